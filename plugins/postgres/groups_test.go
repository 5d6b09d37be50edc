package postgres

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/sdk"
)

// groupServer is a database stand-in: it answers an SSLRequest with 'S'
// and completes TLS accepting only the key-exchange groups it is given,
// recording the groups each client hello offered.
type groupServer struct {
	addr   string
	groups []tls.CurveID

	mu     sync.Mutex
	hellos [][]tls.CurveID
}

func startGroupServer(t *testing.T, cert tls.Certificate, groups ...tls.CurveID) *groupServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	s := &groupServer{addr: ln.Addr().String(), groups: groups}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c, cert)
		}
	}()
	return s
}

func (s *groupServer) serve(c net.Conn, cert tls.Certificate) {
	defer func() { _ = c.Close() }()
	var req [8]byte
	if _, err := io.ReadFull(c, req[:]); err != nil {
		return
	}
	if _, err := c.Write([]byte{'S'}); err != nil {
		return
	}
	tc := tls.Server(c, &tls.Config{
		Certificates:     []tls.Certificate{cert},
		CurvePreferences: s.groups,
		GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			s.mu.Lock()
			s.hellos = append(s.hellos, slices.Clone(h.SupportedCurves))
			s.mu.Unlock()
			return nil, nil
		},
	})
	if tc.Handshake() == nil {
		// Wait for the client to close, so its handshake has ended too.
		_, _ = tc.Read(make([]byte, 1))
	}
}

func (s *groupServer) offered() [][]tls.CurveID {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.hellos)
}

// TestConnectOffersTheGroupTheDatabaseChose connects twice to a database
// that accepts only P-256, as PostgreSQL does by default, and checks the
// groups each connection offered and what is remembered after.
func TestConnectOffersTheGroupTheDatabaseChose(t *testing.T) {
	const every = 0 // in want: a hello offering every group, P-256 among them
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		server   []tls.CurveID
		known    tls.CurveID   // remembered before the first connection
		knownAge time.Duration // how long before
		want     [][]tls.CurveID
		learned  tls.CurveID
	}{
		{
			name:    "learns the group, then offers it alone",
			server:  []tls.CurveID{tls.CurveP256},
			want:    [][]tls.CurveID{{every}, {tls.CurveP256}},
			learned: tls.CurveP256,
		},
		{
			name:    "a refused group is forgotten and every group offered",
			server:  []tls.CurveID{tls.CurveP256},
			known:   tls.X25519,
			want:    [][]tls.CurveID{{tls.X25519}, {every}, {tls.CurveP256}},
			learned: tls.CurveP256,
		},
		{
			name:     "a group is learnt again after groupRelearn",
			server:   []tls.CurveID{tls.X25519},
			known:    tls.CurveP256,
			knownAge: groupRelearn,
			want:     [][]tls.CurveID{{every}, {tls.X25519}},
			learned:  tls.X25519,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			serverCert := selfSigned(t, "db")
			srv := startGroupServer(t, serverCert, tt.server...)
			db := &sdk.Database{Name: "db", URI: srv.addr, Trust: sdk.ServerTrust{
				CAPEM:      pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: serverCert.Certificate[0]}),
				ServerName: "db",
			}}
			mem := &groupMemory{now: func() time.Time { return t0 }}
			if tt.known != 0 {
				mem.now = func() time.Time { return t0.Add(-tt.knownAge) }
				mem.learn(srv.addr, tt.known)
				mem.now = func() time.Time { return t0 }
			}
			clientCert := selfSigned(t, "keyway")
			for range 2 {
				tc, err := connect(context.Background(), nil, mem, db, clientCert, 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				_ = tc.Close()
			}
			got := srv.offered()
			if len(got) != len(tt.want) {
				t.Fatalf("%d client hellos %v, want %d", len(got), got, len(tt.want))
			}
			for i, w := range tt.want {
				if w[0] == every {
					if len(got[i]) < 3 || !slices.Contains(got[i], tls.CurveP256) {
						t.Errorf("hello %d offered %v, want every group", i+1, got[i])
					}
				} else if !slices.Equal(got[i], w) {
					t.Errorf("hello %d offered %v, want %v", i+1, got[i], w)
				}
			}
			if g := mem.get(srv.addr); g != tt.learned {
				t.Errorf("remembered %v, want %v", g, tt.learned)
			}
		})
	}
}

// TestConnectWithoutMemory offers every group each time and refusals
// are not retried.
func TestConnectWithoutMemory(t *testing.T) {
	serverCert := selfSigned(t, "db")
	srv := startGroupServer(t, serverCert, tls.CurveP256)
	db := &sdk.Database{Name: "db", URI: srv.addr, Trust: sdk.ServerTrust{
		CAPEM:      pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: serverCert.Certificate[0]}),
		ServerName: "db",
	}}
	for range 2 {
		tc, err := connect(context.Background(), nil, nil, db, selfSigned(t, "keyway"), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = tc.Close()
	}
	for i, h := range srv.offered() {
		if len(h) < 3 {
			t.Errorf("hello %d offered %v, want every group", i+1, h)
		}
	}
}

func TestGroupMemoryIsBounded(t *testing.T) {
	var m groupMemory
	for i := range groupMemorySize {
		m.learn(net.JoinHostPort("10.0.0.1", string(rune('a'+i%26)))+string(rune(i)), tls.CurveP256)
	}
	if len(m.groups) != groupMemorySize {
		t.Fatalf("%d remembered, want %d", len(m.groups), groupMemorySize)
	}
	m.learn("10.0.0.2:5432", tls.X25519)
	if len(m.groups) != 1 || m.get("10.0.0.2:5432") != tls.X25519 {
		t.Errorf("after the bound: %d remembered, want only the newest", len(m.groups))
	}
	m.learn("10.0.0.3:5432", 0)
	if m.get("10.0.0.3:5432") != 0 {
		t.Error("a connection without a group was remembered")
	}
}

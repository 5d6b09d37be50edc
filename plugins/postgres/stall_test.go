package postgres

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

func TestStallGuardEndsAWriteTheClientDoesNotTake(t *testing.T) {
	tests := []struct {
		name    string
		reading bool
	}{
		{"a client that reads gets every write", true},
		{"a client that stops reading fails the write", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ours, theirs := net.Pipe()
			defer func() { _ = ours.Close(); _ = theirs.Close() }()
			if tt.reading {
				go func() { _, _ = io.Copy(io.Discard, theirs) }()
			}
			const d = 200 * time.Millisecond
			g := newStallGuard(ours, d)
			start := time.Now()
			var err error
			// Writes spread over more than d: a reading client's
			// deadline moves forward with them.
			for time.Since(start) < 2*d && err == nil {
				_, err = g.Write([]byte("DataRow"))
				time.Sleep(d / 10)
			}
			var stalled *stalledError
			switch {
			case tt.reading && err != nil:
				t.Fatalf("write to a reading client: %v", err)
			case !tt.reading && (!errors.As(err, &stalled) || !errors.Is(err, os.ErrDeadlineExceeded)):
				t.Fatalf("write to a client that stopped reading: %v, want the write timeout", err)
			case !tt.reading && time.Since(start) < d*3/4:
				t.Fatalf("the write failed after %s, before three quarters of %s", time.Since(start), d)
			}
		})
	}
}

func TestStallGuardHalfCloses(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	dialed, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = dialed.Close() }()
	accepted, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = accepted.Close() }()
	g := newStallGuard(accepted, time.Minute)
	if err := g.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if _, err := dialed.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("peer read %v after the half-close, want EOF", err)
	}
	// The other direction still works.
	if _, err := dialed.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(g, make([]byte, 1)); err != nil {
		t.Fatalf("reading after the half-close: %v", err)
	}
}

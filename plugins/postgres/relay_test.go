package postgres

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgproto3/v2"

	"github.com/keyway-dev/keyway/sdk"
)

// recordingHost keeps the audit events a session emits.
type recordingHost struct {
	mu     sync.Mutex
	events []sdk.AuditEvent
}

func (h *recordingHost) Log(context.Context, hclog.Level, string, ...string) error { return nil }
func (h *recordingHost) Authorize(context.Context, sdk.AuthorizeRequest) (sdk.Authorization, error) {
	return sdk.Authorization{}, errors.New("not used")
}
func (h *recordingHost) DatabaseCertificate(context.Context, sdk.DatabaseCertificateRequest) (sdk.DatabaseCertificate, error) {
	return sdk.DatabaseCertificate{}, errors.New("not used")
}
func (h *recordingHost) AuditDurable(ctx context.Context, events ...sdk.AuditEvent) error {
	return h.Audit(ctx, events...)
}
func (h *recordingHost) Audit(ctx context.Context, events ...sdk.AuditEvent) error {
	_, err := h.AuditQueued(ctx, events...)
	return err
}
func (h *recordingHost) AuditQueued(_ context.Context, events ...sdk.AuditEvent) (sdk.AuditTicket, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, events...)
	return sdk.AuditTicket(len(h.events)), nil
}
func (h *recordingHost) AuditWait(context.Context, sdk.AuditTicket) error { return nil }

// holdingHost accepts events only when the test says so: AuditWait
// announces the ticket it waits for and returns what the test answers.
type holdingHost struct {
	recordingHost
	waiting chan sdk.AuditTicket
	answer  chan error
}

func (h *holdingHost) AuditWait(_ context.Context, t sdk.AuditTicket) error {
	h.waiting <- t
	return <-h.answer
}

// watchedWriter reports each write on a channel.
type watchedWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	wrote chan struct{}
}

func (w *watchedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	select {
	case w.wrote <- struct{}{}:
	default:
	}
	return w.buf.Write(p)
}

func (w *watchedWriter) bytes() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return bytes.Clone(w.buf.Bytes())
}

func encode(t *testing.T, msgs ...interface{ Encode([]byte) ([]byte, error) }) []byte {
	t.Helper()
	var out []byte
	for _, m := range msgs {
		b, err := m.Encode(nil)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b...)
	}
	return out
}

// TestAnswersWaitForTheirAuditEvents: the server's answer to a statement
// reaches the client only after the host accepted the statement's event,
// and not at all when the host cannot accept it.
func TestAnswersWaitForTheirAuditEvents(t *testing.T) {
	simple := [][]byte{encode(t, &pgproto3.Query{String: "select 1"})}
	extended := [][]byte{encode(t,
		&pgproto3.Parse{Query: "select $1::int"},
		&pgproto3.Bind{Parameters: [][]byte{[]byte("1")}},
		&pgproto3.Execute{},
		&pgproto3.Sync{},
	)}
	answer := encode(t,
		&pgproto3.DataRow{Values: [][]byte{[]byte("1")}},
		&pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")},
		&pgproto3.ReadyForQuery{TxStatus: 'I'},
	)
	prepared := append(encode(t, &pgproto3.ParseComplete{}, &pgproto3.BindComplete{}), answer...)
	tests := []struct {
		name   string
		client [][]byte
		answer []byte
		event  string
		host   error
	}{
		{"simple query accepted", simple, answer, sdk.AuditSessionQuery, nil},
		{"extended statement accepted", extended, prepared, sdk.AuditSessionStatement, nil},
		{"simple query refused", simple, answer, sdk.AuditSessionQuery, errors.New("audit log unavailable")},
		{"extended statement refused", extended, prepared, sdk.AuditSessionStatement, errors.New("audit log unavailable")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host := &holdingHost{waiting: make(chan sdk.AuditTicket), answer: make(chan error)}
			tr := newTracker(testAudit(host), 16)
			for _, msg := range tt.client {
				if err := relayFromClient(bytes.NewReader(msg), io.Discard, newBufferPool(), tr, func(int) {}); err != io.EOF {
					t.Fatalf("client side: %v", err)
				}
			}
			client := &watchedWriter{wrote: make(chan struct{}, 1)}
			done := make(chan error, 1)
			go func() {
				done <- relayFromServer(bytes.NewReader(tt.answer), recordedWriter{w: client, a: tr.a}, newBufferPool(), tr, func(int) {})
			}()
			if ticket := <-host.waiting; ticket != 1 {
				t.Fatalf("the relay waits for ticket %d, want 1 (the statement's event)", ticket)
			}
			if n := len(client.bytes()); n != 0 {
				t.Fatalf("%d bytes reached the client before the host accepted the event", n)
			}
			if got := host.events; len(got) != 1 || got[0].Event != tt.event {
				t.Fatalf("events queued while the answer waits: %+v", got)
			}
			host.answer <- tt.host
			err := <-done
			if tt.host != nil {
				if !errors.Is(err, tt.host) || len(client.bytes()) != 0 {
					t.Fatalf("refused event: relay returned %v, client got %d bytes", err, len(client.bytes()))
				}
				return
			}
			if err != io.EOF || !bytes.Equal(client.bytes(), tt.answer) {
				t.Fatalf("accepted event: relay returned %v, client got %q", err, client.bytes())
			}
		})
	}
}

func TestRelayRefusesHugeOrNegativeLengths(t *testing.T) {
	for _, length := range []uint32{0x80000000, 0xffffffff, 2, 1<<30 + 1} {
		msg := []byte{'Q', byte(length >> 24), byte(length >> 16), byte(length >> 8), byte(length)}
		err := relayFromClient(bytes.NewReader(msg), io.Discard, newBufferPool(), newTracker(testAudit(&recordingHost{}), 0), func(int) {})
		if !errors.Is(err, errMalformed) {
			t.Fatalf("length %#x: %v", length, err)
		}
	}
}

func TestStartupPacketLimits(t *testing.T) {
	for _, length := range []uint32{0, 7, 0x7fffffff, 0xffffffff, maxStartupLength + 1} {
		msg := []byte{byte(length >> 24), byte(length >> 16), byte(length >> 8), byte(length), 0, 3, 0, 0}
		if _, _, err := readStartupPacket(bytes.NewReader(msg)); !errors.Is(err, errMalformed) {
			t.Fatalf("length %#x: %v", length, err)
		}
	}
}

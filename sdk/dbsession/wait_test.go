package dbsession

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/sdk"
	"github.com/keyway-dev/keyway/sdk/identity"
)

// TestBoundedWaitStartsWhenWaitedOn ends d after the first Done, and
// never when nothing waited.
func TestBoundedWaitStartsWhenWaitedOn(t *testing.T) {
	tests := []struct {
		name    string
		wait    bool
		wantErr bool
	}{
		{name: "nobody waits", wait: false, wantErr: false},
		{name: "a caller waits", wait: true, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newBoundedWait(20 * time.Millisecond)
			defer w.stop()
			if tc.wait {
				<-w.Done()
			}
			err := w.Err()
			if (err != nil) != tc.wantErr {
				t.Fatalf("Err() = %v, want an error: %v", err, tc.wantErr)
			}
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Err() = %v, want context.DeadlineExceeded", err)
			}
			if !tc.wait && w.t != nil {
				t.Fatal("a timer started though nothing waited")
			}
		})
	}
}

// boundHost answers AuditQueued at once; it waits on the call's bound
// (calls Done) when wait is set, and keeps each call's ctx. AuditWait
// returns at once.
type boundHost struct {
	sdk.Host
	wait bool
	ctxs []context.Context
	n    sdk.AuditTicket
}

func (h *boundHost) AuditQueued(ctx context.Context, events ...sdk.AuditEvent) (sdk.AuditTicket, error) {
	h.ctxs = append(h.ctxs, ctx)
	if h.wait {
		if ctx.Done() == nil {
			return 0, errors.New("the bound has no Done channel")
		}
	}
	h.n += sdk.AuditTicket(len(events))
	return h.n, nil
}

func (h *boundHost) AuditWait(context.Context, sdk.AuditTicket) error { return nil }

func TestEmitReusesOnlyBoundsNothingWaitedOn(t *testing.T) {
	h := &boundHost{}
	a := NewAudit(h, &sdk.Session{ID: "s"}, identity.Identity{}, "u", "d", "c")
	emit := func(wait bool) {
		t.Helper()
		h.wait = wait
		a.Emit(a.Event("db.session.query", "", true))
		if err := a.Recorded(); err != nil {
			t.Fatal(err)
		}
	}
	emit(false)
	emit(false)
	if h.ctxs[0] != h.ctxs[1] {
		t.Fatal("a bound nothing waited on was not reused")
	}
	emit(true)
	if h.ctxs[2] != h.ctxs[1] {
		t.Fatal("the spare bound was not used")
	}
	emit(true)
	if h.ctxs[3] == h.ctxs[2] {
		t.Fatal("a bound that started was used again")
	}
	if err := h.ctxs[3].Err(); err != nil {
		t.Fatalf("a new bound has ended already: %v", err)
	}
}

package dbsession

import (
	"context"
	"errors"
	"testing"
	"time"
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

package feed

import (
	"errors"
	"testing"

	"github.com/keyway-dev/keyway/core/state"
)

func TestFeed(t *testing.T) {
	tests := []struct {
		name      string
		limit     int
		sends     int
		wantSent  int
		wantLost  bool
		endBefore bool
	}{
		{name: "within limit", limit: 3, sends: 3, wantSent: 3},
		{name: "overflow ends with lost", limit: 3, sends: 5, wantSent: 3, wantLost: true},
		{name: "limit below one is one", limit: 0, sends: 2, wantSent: 1, wantLost: true},
		{name: "ended feed takes nothing", limit: 3, sends: 2, wantSent: 0, endBefore: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := New(tt.limit)
			if tt.endBefore {
				f.End()
			}
			for i := 0; i < tt.sends; i++ {
				f.Send(state.Event{Type: state.EventPut, KV: state.KV{Revision: int64(i + 1)}})
			}
			if !tt.wantLost && !f.Ended() {
				f.End()
			}
			var got []state.Event
			for ev := range f.C() {
				got = append(got, ev)
			}
			sent := len(got)
			lost := sent > 0 && got[sent-1].Type == state.EventLost
			if lost {
				sent--
				if !errors.Is(got[len(got)-1].Err, ErrBehind) {
					t.Errorf("lost reason = %v, want ErrBehind", got[len(got)-1].Err)
				}
			}
			if sent != tt.wantSent || lost != tt.wantLost {
				t.Errorf("got %d events, lost=%v; want %d, lost=%v", sent, lost, tt.wantSent, tt.wantLost)
			}
			for i := 0; i < sent; i++ {
				if got[i].KV.Revision != int64(i+1) {
					t.Errorf("event %d has revision %d, want %d", i, got[i].KV.Revision, i+1)
				}
			}
		})
	}
}

func TestLoseTwiceAndEndAfterLose(t *testing.T) {
	f := New(1)
	f.Lose(errors.New("first"))
	f.Lose(errors.New("second"))
	f.End()
	ev, ok := <-f.C()
	if !ok || ev.Type != state.EventLost || ev.Err.Error() != "first" {
		t.Fatalf("first event = %+v, %v; want the first EventLost", ev, ok)
	}
	if _, ok := <-f.C(); ok {
		t.Fatal("channel still open after EventLost")
	}
}

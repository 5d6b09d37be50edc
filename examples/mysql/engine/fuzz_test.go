package engine

import (
	"testing"
)

// FuzzTracker: any sequence of client commands and server packets leaves
// the tracker consistent: no panic, a bounded queue, and every outcome
// names a kind.
func FuzzTracker(f *testing.F) {
	f.Add([]byte{0, 3, 's', 0xff, 1, 2, 0x00, 0xff, 1, 1, 0xff, 1, 0xfe})
	f.Add([]byte{0, 0x16, 'x', 0xff, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0xff, 0, 0x17, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 0, 1, 2, 3, 4})
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, deprecateEOF := range []bool{false, true} {
			tr := newTracker(deprecateEOF, 8)
			// Items are a side byte (even: client, odd: server) and a
			// length byte, then that many bytes of packet.
			for rest := in; len(rest) >= 2; {
				side, n := rest[0], int(rest[1])
				rest = rest[2:]
				n = min(n, len(rest))
				p := rest[:n]
				rest = rest[n:]
				var outs []*outcome
				if side%2 == 0 {
					_, outs, _ = tr.fromClient(p, false)
				} else {
					outs, _ = tr.fromServer(p, len(p))
				}
				for _, o := range outs {
					if o.Kind == "" {
						t.Fatalf("an outcome without a kind: %+v", o)
					}
				}
				if len(tr.pending) > maxPending {
					t.Fatalf("%d commands pending", len(tr.pending))
				}
			}
		}
	})
}

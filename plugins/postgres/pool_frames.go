package postgres

import "encoding/binary"

// framer follows message boundaries in a stream of typed PostgreSQL
// messages without holding their bytes: the pool needs to know where one
// message ends, not what it says.
type framer struct {
	hdr  [5]byte
	hdrN int
	// rem is what is left of the current message's body.
	rem int64
	// firstPending is set until the current body's first byte is seen.
	firstPending bool
	// bad is set once a length made no sense; the stream is then not
	// followed any more.
	bad bool
}

// atBoundary reports whether the bytes so far end with a whole message.
func (f *framer) atBoundary() bool { return !f.bad && f.hdrN == 0 }

// scan walks p. start sees each message's type as its first byte
// arrives and may stop the scan there, before that byte; first sees the
// first body byte of each message. It returns how many bytes precede the
// stop (len(p) without one).
func (f *framer) scan(p []byte, start func(typ byte) (stop bool), first func(typ, b byte)) (int, bool) {
	i := 0
	for i < len(p) && !f.bad {
		if f.hdrN < len(f.hdr) {
			if f.hdrN == 0 && start != nil && start(p[i]) {
				return i, true
			}
			f.hdr[f.hdrN] = p[i]
			f.hdrN++
			i++
			if f.hdrN == len(f.hdr) {
				n := int64(int32(binary.BigEndian.Uint32(f.hdr[1:]))) - 4
				if n < 0 || n > maxMessage {
					f.bad = true
					break
				}
				f.rem, f.firstPending = n, n > 0
				if n == 0 {
					f.hdrN = 0
				}
			}
			continue
		}
		if f.firstPending {
			f.firstPending = false
			if first != nil {
				first(f.hdr[0], p[i])
			}
		}
		take := min(f.rem, int64(len(p)-i))
		i += int(take)
		f.rem -= take
		if f.rem == 0 {
			f.hdrN = 0
		}
	}
	return len(p), false
}

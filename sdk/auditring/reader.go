package auditring

import (
	"errors"
	"io"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// PollPause is how long a reader that has just read waits before it
// looks again, rather than sleeping on the doorbell: while events keep
// coming, the writers then never ring and the reader wakes once per
// pause for all the events of that pause. Writers never wait for the
// reader unless the ring is full, and filling the default ring (512
// KiB) within one pause takes over 100 MB/s of events, so the pause
// costs the sessions nothing; each wakeup costs the reader's process a few
// goroutine hand-offs.
const PollPause = 5 * time.Millisecond

// Reader is keyway's end of the ring, an io.Reader of the frames the
// plugin wrote. Read returns io.EOF once the doorbell has ended (every
// copy of the plugin's end is closed: it exited or was killed) and the
// ring holds nothing more.
type Reader struct {
	r    ring
	bell io.Reader
	// head is the reader's own position; the copy in the header is only
	// for the writer.
	head   uint64
	active bool // the last Read found bytes
	ended  error
	buf    [64]byte
}

// NewReader returns the reader of a ring made by Create, whose doorbell
// is bell: the audit pipe after the writer's Hello.
func NewReader(mem []byte, bell io.Reader) (*Reader, error) {
	r, err := newRing(mem)
	if err != nil {
		return nil, err
	}
	return &Reader{r: r, bell: bell, head: atomic.LoadUint64(r.head())}, nil
}

// Read copies what the ring holds into p, waiting for it if the ring is
// empty.
func (rd *Reader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		n, err := rd.take(p)
		if n > 0 || err != nil {
			rd.active = n > 0
			return n, err
		}
		if rd.ended != nil {
			return 0, rd.ended
		}
		if rd.active {
			rd.active = false
			time.Sleep(PollPause)
			continue
		}
		s := rd.r.sleeping()
		atomic.StoreUint32(s, 1)
		if rd.available() != 0 {
			atomic.StoreUint32(s, 0)
			continue
		}
		// A byte read here may be a ring for bytes already taken (the
		// writer rang as the flag was cleared): harmless, the loop
		// finds the ring empty and sleeps again.
		if _, err := rd.bell.Read(rd.buf[:]); err != nil {
			atomic.StoreUint32(s, 0)
			if errors.Is(err, io.EOF) {
				rd.ended = io.EOF
			} else {
				rd.ended = err
			}
		}
	}
}

// available is the number of bytes published and not yet read.
func (rd *Reader) available() uint64 {
	return atomic.LoadUint64(rd.r.tail()) - rd.head
}

// take copies published bytes into p and frees their room.
func (rd *Reader) take(p []byte) (int, error) {
	n := rd.available()
	if n == 0 {
		return 0, nil
	}
	if n > rd.r.capacity() {
		return 0, errCorrupt
	}
	n = min(n, uint64(len(p)))
	at := rd.head & rd.r.mask
	c := copy(p, rd.r.data[at:at+min(n, rd.r.capacity()-at)])
	copy(p[c:n], rd.r.data)
	rd.head += n
	atomic.StoreUint64(rd.r.head(), rd.head)
	return int(n), nil
}

// Unmap releases a mapping made by Create, once its reader is done.
func Unmap(mem []byte) error {
	return unix.Munmap(mem)
}

// Package auditring is the shared memory through which a protocol plugin
// hands its audit events to the keyway process that started it.
//
// The keyway process creates the ring (a memory file it maps) and gives
// the plugin a descriptor of it beside the audit pipe (sdk.EnvAuditFD).
// The plugin copies each event's frame into the ring and publishes it by
// advancing the ring's tail: from that moment the bytes are in memory the
// keyway process maps too, so they outlive the plugin, even a kill -9 of
// it, with no system call on the plugin's side. The keyway process reads
// the ring as a byte stream, the same frames the audit pipe carries.
//
// The audit pipe stays as the ring's doorbell and as the sign that the
// plugin has gone: a reader that finds the ring empty says so in the
// ring's header and waits on the pipe, and the writer that next fills it
// rings with one byte. While events keep coming the reader looks again
// after a short pause instead of sleeping, and the writers make no system
// call at all.
//
// The ring's memory is shared with a process keyway does not trust, so
// the reader keeps its own position, checks every value it reads from
// the header, and treats a header that makes no sense as the end of the
// stream.
package auditring

import (
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"
)

// The header's fields, each on its own cache line so that the writer's
// and the reader's stores do not share one.
const (
	offTail     = 0   // uint64: bytes written since the start; the writer's
	offHead     = 64  // uint64: bytes read since the start; the reader's
	offSleeping = 128 // uint32: 1 while the reader waits on the doorbell
	offMagic    = 192 // uint64: ringMagic, set by the reader when it creates the ring
	offCapacity = 200 // uint64: the data area's size, a power of two

	// HeaderSize is the header's size; the data follows it.
	HeaderSize = 4096

	ringMagic = 0x6b65797761790001 // "keyway" and the layout's version, 1
)

// Hello is what a writer sends into the audit pipe before it uses the
// ring: four bytes that cannot begin a frame (their length is beyond
// sdk.MaxAuditFrame), so a reader knows the pipe is a doorbell from then
// on and the events are in the ring.
var Hello = [4]byte{0xff, 0xff, 0xff, 0xff}

// DefaultCapacity is the size of the data area keyway gives its plugins:
// about a second of events from a busy plugin, so that the reader's
// pauses never fill it, and a bound on what a stalled audit log lets a
// plugin queue before its sessions wait.
const DefaultCapacity = 512 << 10

// errCorrupt is returned by a reader whose header holds values no writer
// following this layout could have written.
var errCorrupt = errors.New("the plugin's audit ring holds an impossible position")

// ring is a mapped ring: the header and the data area.
type ring struct {
	mem  []byte
	data []byte
	mask uint64
}

// newRing checks a mapping's header and size and returns its ring.
func newRing(mem []byte) (ring, error) {
	if len(mem) <= HeaderSize {
		return ring{}, fmt.Errorf("audit ring of %d bytes is too small", len(mem))
	}
	r := ring{mem: mem, data: mem[HeaderSize:]}
	if m := atomic.LoadUint64(r.u64(offMagic)); m != ringMagic {
		return ring{}, fmt.Errorf("audit ring has layout %#x, want %#x", m, uint64(ringMagic))
	}
	c := atomic.LoadUint64(r.u64(offCapacity))
	if c == 0 || c&(c-1) != 0 || c != uint64(len(r.data)) {
		return ring{}, fmt.Errorf("audit ring's capacity %d does not match its %d bytes of data", c, len(r.data))
	}
	r.mask = c - 1
	return r, nil
}

// format writes a new ring's header into mem.
func format(mem []byte) {
	r := ring{mem: mem}
	atomic.StoreUint64(r.u64(offCapacity), uint64(len(mem)-HeaderSize))
	atomic.StoreUint64(r.u64(offMagic), ringMagic)
}

func (r ring) u64(off int) *uint64 { return (*uint64)(unsafe.Pointer(&r.mem[off])) }
func (r ring) u32(off int) *uint32 { return (*uint32)(unsafe.Pointer(&r.mem[off])) }

func (r ring) tail() *uint64     { return r.u64(offTail) }
func (r ring) head() *uint64     { return r.u64(offHead) }
func (r ring) sleeping() *uint32 { return r.u32(offSleeping) }
func (r ring) capacity() uint64  { return r.mask + 1 }

package postgres

import (
	"bytes"
	"encoding/binary"
	"errors"
	"runtime"
	"testing"
)

// allocatedBy returns how many bytes f allocated on the heap.
func allocatedBy(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// lengthCase is a declared length that no peer may send.
type lengthCase struct {
	name   string
	length uint32
}

// refusedLengths are 2 GB and more, which read as negative int32s, a
// length just under 2 GB, zero, and extra.
func refusedLengths(extra ...lengthCase) []lengthCase {
	return append([]lengthCase{
		{"2 GB", 1 << 31},
		{"2 GB minus one", 1<<31 - 1},
		{"4 GB minus one, -1 as int32", 0xFFFFFFFF},
		{"negative", 0x80000010},
		{"zero", 0},
	}, extra...)
}

func TestReadStartupPacketRefusesHugeAndNegativeLengths(t *testing.T) {
	for _, tt := range refusedLengths(lengthCase{"one past the limit", maxStartupLength + 1}, lengthCase{"shorter than its header", 7}) {
		t.Run(tt.name, func(t *testing.T) {
			in := make([]byte, 64)
			binary.BigEndian.PutUint32(in, tt.length)
			r := bytes.NewReader(in)
			var err error
			n := allocatedBy(func() { _, _, err = readStartupPacket(r) })
			if !errors.Is(err, errMalformed) {
				t.Fatalf("length %#x: error %v, want errMalformed", tt.length, err)
			}
			if read := len(in) - r.Len(); read != 4 {
				t.Fatalf("read %d bytes, want only the 4 of the length", read)
			}
			if n > 64<<10 {
				t.Fatalf("allocated %d bytes for a refused packet", n)
			}
		})
	}
}

func TestReadMessageRefusesHugeAndNegativeLengths(t *testing.T) {
	for _, tt := range refusedLengths(lengthCase{"one past the limit", maxHandshakeMessage + 1}, lengthCase{"shorter than its length field", 3}) {
		t.Run(tt.name, func(t *testing.T) {
			in := make([]byte, 64)
			in[0] = 'R'
			binary.BigEndian.PutUint32(in[1:], tt.length)
			r := bytes.NewReader(in)
			var err error
			n := allocatedBy(func() { _, _, err = readMessage(r) })
			if !errors.Is(err, errMalformed) {
				t.Fatalf("length %#x: error %v, want errMalformed", tt.length, err)
			}
			if read := len(in) - r.Len(); read != 5 {
				t.Fatalf("read %d bytes, want only the 5 of type and length", read)
			}
			if n > 64<<10 {
				t.Fatalf("allocated %d bytes for a refused message", n)
			}
		})
	}
}

func TestLengthLimitsAreInclusive(t *testing.T) {
	startup := make([]byte, maxStartupLength)
	binary.BigEndian.PutUint32(startup, maxStartupLength)
	binary.BigEndian.PutUint32(startup[4:], 196608)
	if _, body, err := readStartupPacket(bytes.NewReader(startup)); err != nil || len(body) != maxStartupLength-4 {
		t.Fatalf("a startup packet of exactly %d bytes: %d bytes, %v", maxStartupLength, len(body), err)
	}
	msg := encodeMessage('D', make([]byte, maxHandshakeMessage-4))
	if typ, body, err := readMessage(bytes.NewReader(msg)); err != nil || typ != 'D' || len(body) != maxHandshakeMessage-4 {
		t.Fatalf("a message declaring exactly %d bytes: %q, %d bytes, %v", maxHandshakeMessage, typ, len(body), err)
	}
}

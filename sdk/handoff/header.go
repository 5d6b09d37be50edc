package handoff

import (
	"encoding/binary"
	"fmt"
	"io"
)

// MaxHeader bounds a session header.
const MaxHeader = 1 << 20

// FrameHeader frames an encoded session header as it crosses a tunnel
// stream or an agent's data connection: its length in four bytes, big
// endian, then the bytes.
func FrameHeader(b []byte) []byte {
	hdr := make([]byte, 4, 4+len(b))
	binary.BigEndian.PutUint32(hdr, uint32(len(b)))
	return append(hdr, b...)
}

// ReadHeader reads one framed session header and returns its bytes.
func ReadHeader(r io.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > MaxHeader {
		return nil, fmt.Errorf("session header of %d bytes exceeds %d", n, MaxHeader)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	return b, nil
}

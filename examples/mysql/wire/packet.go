// Package wire reads and writes the MySQL client/server protocol as
// MariaDB speaks it: packets, the connection phase (greeting, SSLRequest,
// handshake response), OK, ERR and EOF packets, and the commands the
// plugin audits. It holds no connection state beyond what a caller passes
// in, so the plugin's session code decides what to do with each packet.
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// maxChunk is the largest payload one packet carries; a payload of
// exactly this length is continued by the next packet.
const maxChunk = 1<<24 - 1

// ErrTooLarge is returned for a logical packet longer than the reader's
// limit; the stream is then out of step and must be closed.
var ErrTooLarge = errors.New("packet exceeds the size limit")

// Packet is one logical packet: its payload, joined from as many physical
// packets as it took, and the sequence number of its first one.
type Packet struct {
	Seq     byte
	Payload []byte
}

// Reader reads logical packets from a stream.
type Reader struct {
	r io.Reader
	// Limit bounds a logical packet's payload; zero means 64 MiB.
	Limit int
	// LastSeq is the sequence number of the last physical packet read.
	LastSeq byte
}

// NewReader reads packets from r with the default limit.
func NewReader(r io.Reader) *Reader { return &Reader{r: r} }

// ReadHeader reads one physical packet's header: its payload length and
// sequence number.
func ReadHeader(r io.Reader) (length int, seq byte, err error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, 0, err
	}
	return int(h[0]) | int(h[1])<<8 | int(h[2])<<16, h[3], nil
}

// Next reads the next logical packet whole.
func (r *Reader) Next() (Packet, error) {
	limit := r.Limit
	if limit == 0 {
		limit = 64 << 20
	}
	var p Packet
	first := true
	for {
		n, seq, err := ReadHeader(r.r)
		if err != nil {
			if !first && errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return Packet{}, err
		}
		if first {
			p.Seq = seq
			first = false
		}
		r.LastSeq = seq
		if len(p.Payload)+n > limit {
			return Packet{}, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
		}
		start := len(p.Payload)
		p.Payload = append(p.Payload, make([]byte, n)...)
		if _, err := io.ReadFull(r.r, p.Payload[start:]); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return Packet{}, err
		}
		if n < maxChunk {
			return p, nil
		}
	}
}

// AppendPacket appends payload as physical packets numbered from seq and
// returns the buffer and the sequence number after the last one.
func AppendPacket(buf []byte, seq byte, payload []byte) ([]byte, byte) {
	for {
		n := min(len(payload), maxChunk)
		buf = append(buf, byte(n), byte(n>>8), byte(n>>16), seq)
		buf = append(buf, payload[:n]...)
		payload = payload[n:]
		seq++
		if n < maxChunk {
			return buf, seq
		}
	}
}

// WritePacket writes payload as one logical packet numbered from seq and
// returns the next sequence number.
func WritePacket(w io.Writer, seq byte, payload []byte) (byte, error) {
	buf, next := AppendPacket(make([]byte, 0, len(payload)+4), seq, payload)
	_, err := w.Write(buf)
	return next, err
}

// uint16At and uint32At read little-endian integers.
func uint16At(b []byte) uint16 { return binary.LittleEndian.Uint16(b) }
func uint32At(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }

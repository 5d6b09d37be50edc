package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
)

// errShort is the error of every read past a payload's end.
var errShort = errors.New("packet is shorter than its fields")

// decoder reads a payload's fields in order. The first failed read
// records an error and every later read returns zero values, so a parser
// reads all its fields and checks err once.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errShort
	}
	d.b = nil
}

func (d *decoder) bytes(n int) []byte {
	if n < 0 || len(d.b) < n {
		d.fail()
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) uint8() byte {
	b := d.bytes(1)
	if b == nil {
		return 0
	}
	return b[0]
}

func (d *decoder) uint16() uint16 {
	b := d.bytes(2)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint16(b)
}

func (d *decoder) uint32() uint32 {
	b := d.bytes(4)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(b)
}

func (d *decoder) uint64() uint64 {
	b := d.bytes(8)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(b)
}

// nulString reads a string ended by a NUL byte.
func (d *decoder) nulString() string {
	i := bytes.IndexByte(d.b, 0)
	if i < 0 {
		d.fail()
		return ""
	}
	s := string(d.b[:i])
	d.b = d.b[i+1:]
	return s
}

// lenencInt reads a length-encoded integer; null reports the NULL marker
// (0xfb) of a text-protocol row.
func (d *decoder) lenencInt() (v uint64, null bool) {
	first := d.uint8()
	switch {
	case d.err != nil:
		return 0, false
	case first < 0xfb:
		return uint64(first), false
	case first == 0xfb:
		return 0, true
	case first == 0xfc:
		return uint64(d.uint16()), false
	case first == 0xfd:
		b := d.bytes(3)
		if b == nil {
			return 0, false
		}
		return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16, false
	case first == 0xfe:
		return d.uint64(), false
	}
	d.fail() // 0xff starts no integer
	return 0, false
}

// lenencBytes reads a length-encoded string.
func (d *decoder) lenencBytes() []byte {
	n, _ := d.lenencInt()
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	return d.bytes(int(n))
}

// rest returns what is left.
func (d *decoder) rest() []byte {
	v := d.b
	d.b = nil
	return v
}

// appendLenencInt appends v as a length-encoded integer.
func appendLenencInt(b []byte, v uint64) []byte {
	switch {
	case v < 0xfb:
		return append(b, byte(v))
	case v < 1<<16:
		return append(b, 0xfc, byte(v), byte(v>>8))
	case v < 1<<24:
		return append(b, 0xfd, byte(v), byte(v>>8), byte(v>>16))
	}
	return binary.LittleEndian.AppendUint64(append(b, 0xfe), v)
}

// appendLenencBytes appends s as a length-encoded string.
func appendLenencBytes(b, s []byte) []byte {
	return append(appendLenencInt(b, uint64(len(s))), s...)
}

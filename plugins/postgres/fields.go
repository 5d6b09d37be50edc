package postgres

import (
	"encoding/binary"
	"io"
	"strings"
)

// fieldReader reads the fields of one message body, keeping of each only
// what an audit event records. It reads either a body held whole or, for
// a large one, a stream, so a message of any size is decoded with
// bounded memory: a 100 MiB Query costs its first maxAuditedText bytes.
type fieldReader struct {
	src  io.Reader // nil when buf holds the whole body
	buf  []byte
	r, w int
	// bad is set once a field runs past the end of the body: the server
	// refuses such a message too.
	bad bool
}

// fieldWindow is how much of a streamed body is looked at at once.
const fieldWindow = 4 << 10

func wholeFields(body []byte) *fieldReader { return &fieldReader{buf: body, w: len(body)} }

func streamFields(src io.Reader) *fieldReader { return streamFieldsWindow(src, fieldWindow) }

func streamFieldsWindow(src io.Reader, window int) *fieldReader {
	return &fieldReader{src: src, buf: make([]byte, window)}
}

// fill makes at least one more byte available; false at the body's end.
func (f *fieldReader) fill() bool {
	if f.r < f.w {
		return true
	}
	if f.src == nil {
		return false
	}
	f.r, f.w = 0, 0
	for f.w == 0 {
		n, err := f.src.Read(f.buf)
		f.w = n
		if err != nil && n == 0 {
			return false
		}
	}
	return true
}

// take returns up to n buffered bytes, reading more when none are left.
func (f *fieldReader) take(n int) []byte {
	if !f.fill() {
		return nil
	}
	m := min(n, f.w-f.r)
	b := f.buf[f.r : f.r+m]
	f.r += m
	return b
}

// fixed reads exactly n ≤ 4 bytes.
func (f *fieldReader) fixed(n int) ([4]byte, bool) {
	var out [4]byte
	for got := 0; got < n; {
		b := f.take(n - got)
		if b == nil {
			f.bad = true
			return out, false
		}
		got += copy(out[got:n], b)
	}
	return out, true
}

func (f *fieldReader) byte1() byte {
	b, _ := f.fixed(1)
	return b[0]
}

func (f *fieldReader) uint16() uint16 {
	b, _ := f.fixed(2)
	return binary.BigEndian.Uint16(b[:2])
}

func (f *fieldReader) int32() int32 {
	b, _ := f.fixed(4)
	return int32(binary.BigEndian.Uint32(b[:]))
}

// cstring reads a NUL-terminated string, keeping its first max bytes;
// cut says it was longer.
func (f *fieldReader) cstring(max int) (s string, cut bool) {
	var sb strings.Builder
	for {
		if !f.fill() {
			f.bad = true
			return sb.String(), cut
		}
		chunk := f.buf[f.r:f.w]
		end := len(chunk)
		nul := false
		for i, c := range chunk {
			if c == 0 {
				end, nul = i, true
				break
			}
		}
		keep := min(end, max-sb.Len())
		if keep < end {
			cut = true
		}
		sb.Write(chunk[:keep])
		f.r += end
		if nul {
			f.r++
			return sb.String(), cut
		}
	}
}

// bytes reads n bytes and keeps the first keep of them.
func (f *fieldReader) bytes(n, keep int) []byte {
	out := make([]byte, 0, min(n, keep))
	for n > 0 {
		b := f.take(n)
		if b == nil {
			f.bad = true
			return out
		}
		if room := keep - len(out); room > 0 {
			out = append(out, b[:min(room, len(b))]...)
		}
		n -= len(b)
	}
	return out
}

// atEnd reports whether the whole body was read; a body with bytes left
// over is refused by the server as malformed.
func (f *fieldReader) atEnd() bool { return !f.bad && !f.fill() }

package file

import (
	"bufio"
	"errors"
	"io"
)

// maxLine bounds the length of one event; longer lines are skipped
// without being held in memory.
const maxLine = 16 << 20

// lineReader reads newline-terminated lines from a file that may still be
// growing. A last line without its newline is kept until more data
// arrives, so a reader following the file never sees half an event.
type lineReader struct {
	r        *bufio.Reader
	partial  []byte
	skipping bool // discarding the rest of an overlong line
	long     int  // overlong lines skipped
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, 64<<10)}
}

// next returns the next complete line without its newline; the slice is
// valid until the following call. It returns io.EOF when no complete line
// is available yet.
func (lr *lineReader) next() ([]byte, error) {
	for {
		chunk, err := lr.r.ReadSlice('\n')
		switch {
		case err == nil:
			if lr.skipping {
				lr.skipping = false
				lr.long++
				continue
			}
			line := chunk
			if len(lr.partial) > 0 {
				lr.partial = append(lr.partial, chunk...)
				line = lr.partial
				lr.partial = lr.partial[:0]
			}
			return line[:len(line)-1], nil
		case errors.Is(err, bufio.ErrBufferFull), errors.Is(err, io.EOF):
			if !lr.skipping {
				lr.partial = append(lr.partial, chunk...)
				if len(lr.partial) > maxLine {
					lr.skipping = true
					lr.partial = nil
				}
			}
			if errors.Is(err, io.EOF) {
				return nil, io.EOF
			}
		default:
			return nil, err
		}
	}
}

// torn reports whether an unterminated line is pending.
func (lr *lineReader) torn() bool { return len(lr.partial) > 0 || lr.skipping }

// reset drops the pending partial line, for a switch to another file.
func (lr *lineReader) reset(r io.Reader) {
	lr.r.Reset(r)
	lr.partial = lr.partial[:0]
	lr.skipping = false
}

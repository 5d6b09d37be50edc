package postgres

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

func TestLazyWriterKeepsBytesInOrderAndReturnsItsBuffer(t *testing.T) {
	big := strings.Repeat("x", 3*relayBuffer+17)
	tests := []struct {
		name   string
		writes []string
		from   string // streamed with ReadFrom after the writes
	}{
		{"small writes", []string{"Q", "abc", "def"}, ""},
		{"a write larger than the buffer", []string{"head", big, "tail"}, ""},
		{"writes that fill the buffer exactly", []string{strings.Repeat("a", relayBuffer-1), "b", "c"}, ""},
		{"a streamed body", []string{"D\x00\x00"}, big},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var dst bytes.Buffer
			w := &lazyWriter{dst: &dst, pool: newBufferPool()}
			want := strings.Join(tt.writes, "") + tt.from
			for _, s := range tt.writes {
				if n, err := w.Write([]byte(s)); err != nil || n != len(s) {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			if tt.from != "" {
				n, err := io.CopyN(w, strings.NewReader(tt.from), int64(len(tt.from)))
				if err != nil || n != int64(len(tt.from)) {
					t.Fatalf("CopyN = %d, %v", n, err)
				}
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if dst.String() != want {
				t.Fatalf("wrote %d bytes, want %d, or in another order", dst.Len(), len(want))
			}
			if w.buf != nil {
				t.Fatal("the writer kept its buffer after Flush; an idle session would hold it")
			}
		})
	}
}

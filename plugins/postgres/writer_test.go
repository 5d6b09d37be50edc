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
		from   string // streamed with copyN after the writes
		// more is left in the source after from; copyN must not take it.
		more string
	}{
		{"small writes", []string{"Q", "abc", "def"}, "", ""},
		{"a write larger than the buffer", []string{"head", big, "tail"}, "", ""},
		{"writes that fill the buffer exactly", []string{strings.Repeat("a", relayBuffer-1), "b", "c"}, "", ""},
		{"a streamed body", []string{"D\x00\x00"}, big, ""},
		{"a streamed body followed by the next message", []string{"D\x00\x00"}, big, "Znext"},
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
				src := strings.NewReader(tt.from + tt.more)
				if err := w.copyN(src, int64(len(tt.from))); err != nil {
					t.Fatalf("copyN: %v", err)
				}
				if src.Len() != len(tt.more) {
					t.Fatalf("copyN left %d bytes, want %d", src.Len(), len(tt.more))
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

func TestCopyNSaysWhenTheSourceEndsFirst(t *testing.T) {
	w := &lazyWriter{dst: io.Discard, pool: newBufferPool()}
	if err := w.copyN(strings.NewReader("abc"), 5); err != io.EOF {
		t.Fatalf("copyN of 5 bytes from 3 = %v, want io.EOF", err)
	}
}

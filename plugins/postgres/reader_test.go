package postgres

import (
	"bytes"
	"io"
	"testing"
	"testing/iotest"
)

// TestLazyReaderReadsLikeABufferedReader reads streams of several
// sizes through several kinds of source and gets them back whole.
func TestLazyReaderReadsLikeABufferedReader(t *testing.T) {
	content := bytes.Repeat([]byte("keyway relays postgres messages. "), 400)
	sources := []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{"whole reads", func(r io.Reader) io.Reader { return r }},
		{"one byte at a time", iotest.OneByteReader},
		{"half of each read", iotest.HalfReader},
		{"data with the error", iotest.DataErrReader},
	}
	for _, size := range []int{0, 1, waitBuffer - 1, waitBuffer, readBuffer + 1, len(content)} {
		for _, src := range sources {
			t.Run(src.name, func(t *testing.T) {
				r := newLazyReader(src.wrap(bytes.NewReader(content[:size])), newBufferPool())
				if err := iotest.TestReader(r, content[:size]); err != nil {
					t.Fatalf("%d bytes: %v", size, err)
				}
			})
		}
	}
}

// TestLazyReaderHoldsNoBufferWhileItsSourceIsDrained follows a burst of
// messages and the wait after it: the pooled buffer is lent during the
// burst and given back once the reader has handed out all it read.
func TestLazyReaderHoldsNoBufferWhileItsSourceIsDrained(t *testing.T) {
	burst := bytes.Repeat([]byte{'D'}, 3*readBuffer)
	r := newLazyReader(bytes.NewReader(burst), newBufferPool())
	hdr := make([]byte, 5)
	var total int
	lent := false
	for {
		n, err := io.ReadFull(r, hdr)
		total += n
		lent = lent || r.lent != nil
		if err != nil {
			break
		}
	}
	if total != len(burst) {
		t.Fatalf("read %d bytes of %d", total, len(burst))
	}
	if !lent {
		t.Fatal("the reader never borrowed a buffer during the burst: each small read went to the source")
	}
	if r.lent != nil {
		t.Fatal("the reader still holds a pooled buffer after its source was drained")
	}
}

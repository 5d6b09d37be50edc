package postgres

import (
	"bytes"
	"testing"
)

func TestFramerFollowsBoundariesAcrossReads(t *testing.T) {
	stream := bytes.Join([][]byte{
		encodeMessage('Q', []byte("select 1\x00")),
		encodeMessage('Z', []byte{'T'}),
		encodeMessage('S', nil),
		encodeMessage('X', nil),
	}, nil)
	for size := 1; size <= len(stream); size++ {
		var f framer
		var types []byte
		var firsts []byte
		stoppedAt := -1
		for off := 0; off < len(stream); off += size {
			chunk := stream[off:min(off+size, len(stream))]
			n, stop := f.scan(chunk, func(typ byte) bool {
				if typ == 'X' {
					return true
				}
				types = append(types, typ)
				return false
			}, func(typ, b byte) { firsts = append(firsts, typ, b) })
			if stop {
				stoppedAt = off + n
				break
			}
		}
		if string(types) != "QZS" || string(firsts) != "QsZT" || stoppedAt != len(stream)-5 || !f.atBoundary() {
			t.Fatalf("chunks of %d: types %q, first bytes %q, stopped at %d of %d", size, types, firsts, stoppedAt, len(stream))
		}
	}
}

func TestFramerRejectsANegativeLength(t *testing.T) {
	var f framer
	f.scan([]byte{'Q', 0, 0, 0, 1}, nil, nil)
	if f.atBoundary() {
		t.Fatal("a length below 4 left the stream followed")
	}
}

func TestLeaseReusableOnlyWhenIdle(t *testing.T) {
	q := encodeMessage('Q', []byte("select 1\x00"))
	tests := []struct {
		name     string
		client   []byte
		server   []byte
		reusable bool
	}{
		{"answered and terminated", append(q, encodeMessage('X', nil)...), encodeMessage('Z', []byte{'I'}), true},
		{"in a transaction", append(q, encodeMessage('X', nil)...), encodeMessage('Z', []byte{'T'}), false},
		{"in a failed transaction", append(q, encodeMessage('X', nil)...), encodeMessage('Z', []byte{'E'}), false},
		{"answer still owed", append(append(q, q...), encodeMessage('X', nil)...), encodeMessage('Z', []byte{'I'}), false},
		{"no terminate", q, encodeMessage('Z', []byte{'I'}), false},
		{"extended batch without sync", append(encodeMessage('P', []byte("\x00select 1\x00\x00\x00")), encodeMessage('X', nil)...), nil, false},
		{"half a message", append(q[:3:3], encodeMessage('X', nil)...), nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := &lease{status: 'I'}
			l.clientFrames.scan(tt.client, l.fromClient, nil)
			l.mu.Lock()
			if _, stop := (&framer{}).scan(tt.client, func(typ byte) bool { return typ == 'X' }, nil); stop && l.clientFrames.atBoundary() {
				l.terminated = true
			}
			l.mu.Unlock()
			l.serverFrames.scan(tt.server, nil, func(typ, b byte) {
				if typ == 'Z' {
					l.ready++
					l.status = b
				}
			})
			if got := l.reusable(); got != tt.reusable {
				t.Fatalf("reusable %v, want %v (lease %+v)", got, tt.reusable, l)
			}
		})
	}
}

func TestLeaseClientKeepsTheTerminateFromTheServer(t *testing.T) {
	app, conn := tcpPair(t)
	q := encodeMessage('Q', []byte("select 1\x00"))
	go func() {
		_, _ = app.Write(append(append(q, encodeMessage('X', nil)...), "after"...))
	}()
	l := &lease{status: 'I'}
	c := l.client(conn)
	var got []byte
	buf := make([]byte, 3)
	for {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			break
		}
	}
	if !bytes.Equal(got, q) || !l.terminated || l.owed != 1 {
		t.Fatalf("relayed %q, terminated %v, owed %d", got, l.terminated, l.owed)
	}
}

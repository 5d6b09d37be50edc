//go:build linux

package auditring

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// pair makes a ring of capacity bytes with its doorbell, and returns the
// writer, the reader and the writer's end of the doorbell.
func pair(t *testing.T, capacity int) (*Writer, *Reader, net.Conn) {
	t.Helper()
	mem, f, err := Create(capacity)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	readerEnd, writerEnd := socketPair(t)
	t.Cleanup(func() { _ = readerEnd.Close(); _ = writerEnd.Close() })
	opened := make(chan error, 1)
	var w *Writer
	go func() {
		var err error
		w, err = Open(f, writerEnd)
		opened <- err
	}()
	var hello [4]byte
	if _, err := io.ReadFull(readerEnd, hello[:]); err != nil || hello != Hello {
		t.Fatalf("read %x, %v before the ring; want the hello %x", hello, err, Hello)
	}
	if err := <-opened; err != nil {
		t.Fatal(err)
	}
	r, err := NewReader(mem, readerEnd)
	if err != nil {
		t.Fatal(err)
	}
	return w, r, writerEnd
}

// socketPair returns the two ends of a Unix stream socket, as the audit
// pipe is.
func socketPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	var conns [2]net.Conn
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "audit-pipe")
		conns[i], err = net.FileConn(f)
		_ = f.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	return conns[0], conns[1]
}

func TestRingCarriesAStreamInOrder(t *testing.T) {
	tests := []struct {
		name     string
		capacity int
		sizes    []int
	}{
		{"small writes", 4096, []int{1, 7, 100, 3, 4000}},
		{"writes that wrap the ring", 4096, []int{3000, 3000, 3000, 2500, 4096}},
		{"writes larger than the ring", 4096, []int{10000, 1, 20000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, r, bell := pair(t, tt.capacity)
			var want []byte
			for round := range 50 {
				for _, n := range tt.sizes {
					b := make([]byte, n)
					for i := range b {
						b[i] = byte(round*31 + i*7 + n)
					}
					want = append(want, b...)
				}
			}
			wrote := make(chan error, 1)
			go func() {
				defer func() { _ = bell.Close() }()
				for at := 0; at < len(want); {
					n := min(len(want)-at, tt.sizes[at%len(tt.sizes)])
					if err := w.Write(context.Background(), want[at:at+n]); err != nil {
						wrote <- err
						return
					}
					at += n
				}
				wrote <- nil
			}()
			got, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			if err := <-wrote; err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("read %d bytes that differ from the %d written", len(got), len(want))
			}
		})
	}
}

func TestSleepingReaderIsWoken(t *testing.T) {
	w, r, _ := pair(t, 4096)
	read := make(chan []byte)
	go func() {
		b := make([]byte, 16)
		n, _ := r.Read(b)
		read <- b[:n]
	}()
	// The reader found the ring empty and sleeps on the doorbell.
	for atomic.LoadUint32(r.r.sleeping()) == 0 {
		select {
		case b := <-read:
			t.Fatalf("read %q from an empty ring", b)
		default:
		}
		time.Sleep(time.Millisecond)
	}
	if err := w.Write(context.Background(), []byte("event")); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-read:
		if string(b) != "event" {
			t.Fatalf("read %q, want %q", b, "event")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the reader was not woken by the write")
	}
}

func TestWhatTheWriterPublishedOutlivesIt(t *testing.T) {
	w, r, bell := pair(t, 4096)
	if err := w.Write(context.Background(), []byte("last words")); err != nil {
		t.Fatal(err)
	}
	_ = bell.Close()
	got, err := io.ReadAll(r)
	if err != nil || string(got) != "last words" {
		t.Fatalf("read %q, %v; want the published bytes, then the end", got, err)
	}
}

func TestFullRingWaitsForTheReaderOrTheContext(t *testing.T) {
	w, r, _ := pair(t, 4096)
	if err := w.Write(context.Background(), make([]byte, 4096)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := w.Write(ctx, []byte("x")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("write into a full ring: %v, want the context's deadline", err)
	}
	wrote := make(chan error, 1)
	go func() { wrote <- w.Write(context.Background(), []byte("y")) }()
	if _, err := io.ReadFull(r, make([]byte, 4096)); err != nil {
		t.Fatal(err)
	}
	if err := <-wrote; err != nil {
		t.Fatalf("write once the reader made room: %v", err)
	}
}

func TestReaderDistrustsTheHeader(t *testing.T) {
	tests := []struct {
		name  string
		spoil func(r ring)
		want  error
	}{
		{"a tail beyond the ring's capacity", func(r ring) { atomic.StoreUint64(r.tail(), r.capacity()+1) }, errCorrupt},
		{"a tail behind the head", func(r ring) { atomic.StoreUint64(r.tail(), ^uint64(0)) }, errCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, r, _ := pair(t, 4096)
			// The writer could overwrite the head too; the reader keeps
			// its own.
			atomic.StoreUint64(r.r.head(), 12345)
			tt.spoil(r.r)
			if _, err := r.Read(make([]byte, 16)); !errors.Is(err, tt.want) {
				t.Fatalf("read: %v, want %v", err, tt.want)
			}
		})
	}
}

func TestOpenRefusesAnotherLayout(t *testing.T) {
	mem, f, err := Create(4096)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	atomic.StoreUint64(ring{mem: mem}.u64(offMagic), 42)
	if _, err := Open(f, io.Discard); err == nil {
		t.Fatal("opened a ring with another layout's magic")
	}
	if _, _, err := Create(3000); err == nil {
		t.Fatal("created a ring whose capacity is not a power of two")
	}
	empty, err := os.CreateTemp(t.TempDir(), "ring")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = empty.Close() }()
	if _, err := Open(empty, io.Discard); err == nil {
		t.Fatal("opened an empty file as a ring")
	}
}

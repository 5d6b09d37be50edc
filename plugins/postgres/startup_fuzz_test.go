package postgres

import (
	"bytes"
	"errors"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// FuzzReceiveStartup feeds receiveStartup a client's bytes over a
// net.Pipe. It never panics or hangs; it answers every encryption request
// with 'N' and nothing else; on success it returns exactly one of a
// StartupMessage and a cancel key. Both client goroutines end before the
// next input: the pipe is closed on both sides and waited for.
func FuzzReceiveStartup(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		client, server := net.Pipe()
		var wg sync.WaitGroup
		wg.Go(func() {
			_, _ = client.Write(data)
			_ = client.Close()
		})
		var answers []byte
		wg.Go(func() { answers = drainAll(client) })
		defer wg.Wait()
		defer func() { _ = server.Close() }()

		_ = server.SetDeadline(time.Now().Add(10 * time.Second))
		msg, cancel, err := receiveStartup(server)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatal("receiveStartup hung")
		}
		if err == nil && (msg == nil) == (cancel == nil) {
			t.Fatalf("success with message %v and cancel key %v: want exactly one", msg, cancel)
		}
		if msg != nil {
			switch msg.ProtocolVersion {
			case codeSSLRequest, codeGSSENCRequest, codeCancelRequest:
				t.Fatalf("request code %d returned as a StartupMessage", msg.ProtocolVersion)
			}
		}
		_ = server.Close()
		wg.Wait()
		if len(bytes.Trim(answers, "N")) != 0 {
			t.Fatalf("answered %q; only 'N' may be sent before the StartupMessage", answers)
		}
	})
}

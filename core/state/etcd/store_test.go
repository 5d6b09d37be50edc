package etcd

import (
	"net"
	"strings"
	"testing"
	"time"
)

func TestOpenUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "http://" + l.Addr().String()
	l.Close() // nothing listens there now

	start := time.Now()
	s, err := Open(t.Context(), Config{Endpoints: []string{endpoint}, DialTimeout: 500 * time.Millisecond})
	if err == nil {
		s.Close()
		t.Fatal("Open of an unreachable etcd succeeded")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Open took %s to fail", took)
	}
	if !strings.Contains(err.Error(), endpoint) {
		t.Errorf("error %q does not name the endpoint", err)
	}
}

package engine

import (
	"testing"

	"github.com/keyway-dev/keyway/examples/mysql/wire"
)

// TestRewriteKill: a KILL of an id keyway's greeting gave a live session
// of the same database names the database's own connection; anything
// else passes unchanged.
func TestRewriteKill(t *testing.T) {
	conns := newConnections()
	conns.add(1234, liveConn{database: "shop", upstreamID: 77})
	conns.add(999, liveConn{database: "other", upstreamID: 88})
	r := &relay{conns: conns, database: "shop"}
	q := func(s string) []byte { return append([]byte{wire.ComQuery}, s...) }
	tests := []struct{ in, want string }{
		{"KILL QUERY 1234", "KILL QUERY 77"},
		{"  kill query 1234 ; ", "KILL QUERY 77"},
		{"KILL 1234", "KILL CONNECTION 77"},
		{"KILL CONNECTION 1234", "KILL CONNECTION 77"},
		{"KILL QUERY 999", "KILL QUERY 999"}, // another database's session
		{"KILL QUERY 5", "KILL QUERY 5"},     // no session of keyway's: the server decides
		{"select 'KILL 1234'", "select 'KILL 1234'"},
	}
	for _, tt := range tests {
		if got := string(r.rewriteKill(q(tt.in))[1:]); got != tt.want {
			t.Errorf("rewriteKill(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	conns.remove(1234)
	if got := string(r.rewriteKill(q("KILL QUERY 1234"))[1:]); got != "KILL QUERY 1234" {
		t.Errorf("a KILL of an ended session was rewritten: %q", got)
	}
	if id := conns.newID(); id == 0 || id > 0x7fffffff {
		t.Errorf("newID gave %d", id)
	}
}

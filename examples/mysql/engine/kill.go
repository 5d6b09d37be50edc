package engine

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/keyway-dev/keyway/examples/mysql/wire"
)

// killStatement is KILL [QUERY|CONNECTION] ID, as a client's ctrl+c
// sends it on a second connection (the mariadb client's KILL QUERY).
var killStatement = regexp.MustCompile(`(?i)^\s*KILL\s+(?:(QUERY|CONNECTION)\s+)?(\d+)\s*;?\s*$`)

// rewriteKill turns the connection id in a KILL statement, which is the
// id keyway gave the target session's client, into the database's own id
// of that session's connection, when the session is served here and uses
// the same database. Any other statement passes unchanged, and so does a
// KILL of an id keyway did not give out: the database then decides. The
// database still checks that the killing user may kill the connection.
func (r *relay) rewriteKill(p []byte) []byte {
	if len(p) == 0 || p[0] != wire.ComQuery {
		return p
	}
	m := killStatement.FindSubmatch(p[1:])
	if m == nil {
		return p
	}
	id, err := strconv.ParseUint(string(m[2]), 10, 32)
	if err != nil {
		return p
	}
	target, ok := r.conns.lookup(uint32(id))
	if !ok || target.database != r.database {
		return p
	}
	kind := strings.ToUpper(string(m[1]))
	if kind == "" {
		kind = "CONNECTION"
	}
	return append([]byte{wire.ComQuery}, fmt.Sprintf("KILL %s %d", kind, target.upstreamID)...)
}

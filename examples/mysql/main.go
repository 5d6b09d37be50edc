// Command mysql is keyway's MySQL and MariaDB protocol plugin, built only
// against keyway's SDK: it greets clients on the proxy's MySQL port, asks
// the cluster to admit and authorise each session, logs in to the
// database with a db-client certificate and relays the session, auditing
// every statement.
package main

import (
	"github.com/keyway-dev/keyway/examples/mysql/engine"
	"github.com/keyway-dev/keyway/sdk"
)

func main() {
	sdk.Serve(engine.New())
}

package postgres

import (
	"github.com/keyway-dev/keyway/sdk"
	"github.com/keyway-dev/keyway/sdk/dbsession"
	"github.com/keyway-dev/keyway/sdk/identity"
)

// testAudit is a session's audit trail that records into host.
func testAudit(host sdk.Host) *dbsession.Audit {
	return dbsession.NewAudit(host, &sdk.Session{ID: "test"}, identity.Identity{}, "", "", "")
}

// noEnd is the end reason of a relay that keyway never ends.
func noEnd() sdk.EndReason { return sdk.EndReason{} }

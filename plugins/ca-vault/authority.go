package cavault

import (
	"fmt"

	"github.com/keyway-dev/keyway/sdk"
)

// authorities returns the cluster's four authorities in a fixed order.
func authorities() []sdk.Authority {
	return []sdk.Authority{sdk.AuthorityUser, sdk.AuthorityHost, sdk.AuthorityDB, sdk.AuthorityDBClient}
}

// parseAuthority returns the authority named s ("user", "db-client", ...).
func parseAuthority(s string) (sdk.Authority, bool) {
	for _, a := range authorities() {
		if a.String() == s {
			return a, true
		}
	}
	return sdk.AuthorityUnknown, false
}

// checkAuthority refuses anything but the four known authorities.
func checkAuthority(a sdk.Authority) error {
	if _, ok := parseAuthority(a.String()); !ok {
		return fmt.Errorf("unknown authority %d: want user, host, db or db-client", int(a))
	}
	return nil
}

package authority

import "github.com/keyway-dev/keyway/sdk"

// ServerSignerFirst returns an authority's trusted certificates with the
// one whose key signs server certificates now first. In init and
// update_clients that is the old key (the second in the plugin's order,
// which puts the key that survives the rotation first); otherwise it is
// the first. Agents renew their host certificate when the first key did
// not sign it, so they move to the new key in update_servers, not before.
func ServerSignerFirst(st sdk.AuthorityState) [][]byte {
	certs := st.Certificates
	if len(certs) < 2 || (st.Phase != sdk.PhaseInit && st.Phase != sdk.PhaseUpdateClients) {
		return certs
	}
	out := append([][]byte{certs[1], certs[0]}, certs[2:]...)
	return out
}

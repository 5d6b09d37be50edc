package proxy

import (
	"hash/fnv"

	"github.com/keyway-dev/keyway/sdk"
)

// LocalRoute names the route to this process's own protocol plugins, for
// KeyTag.
const LocalRoute = "local"

// KeyTag is the route tag of the route called route: LocalRoute, or
// "agent/" and an agent's host name. A plugin puts it in the keys it
// issues for out-of-band requests (sdk.Session.KeyTag), so that such a
// request goes back to the plugin that issued its key. Agents' host
// names are unique in a cluster and every proxy derives the same tag
// from one, so a request reaching another proxy still finds its agent.
// Two routes may share a tag (it has 16 bits); a request then reaches
// both, and only the issuer knows the key.
func KeyTag(route string) []byte {
	h := fnv.New32a()
	_, _ = h.Write([]byte(route))
	sum := h.Sum32()
	return []byte{byte(sum>>24) ^ byte(sum>>8), byte(sum>>16) ^ byte(sum)}
}

// AgentRoute is the route name of the agent whose host name is host.
func AgentRoute(host string) string { return "agent/" + host }

// keyTagOf is the route tag an out-of-band request carries, nil when its
// preamble declares none.
func keyTagOf(p sdk.Preamble, msg []byte) []byte {
	if p.KeyTagOffset <= 0 || len(msg) < p.KeyTagOffset+sdk.KeyTagSize {
		return nil
	}
	return msg[p.KeyTagOffset : p.KeyTagOffset+sdk.KeyTagSize]
}

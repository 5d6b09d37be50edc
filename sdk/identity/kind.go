package identity

import "fmt"

// Kind is the sort of subject an identity names; it is the first segment
// of the SPIFFE ID's path.
type Kind string

// The kinds of subject keyway certifies.
const (
	// KindUser is a person.
	KindUser Kind = "user"
	// KindBot is a machine acting as a user: a CI job, a service.
	KindBot Kind = "bot"
	// KindHost is a keyway host: auth, proxy or database agent.
	KindHost Kind = "host"
)

// Valid reports whether k is one of the known kinds.
func (k Kind) Valid() bool {
	switch k {
	case KindUser, KindBot, KindHost:
		return true
	}
	return false
}

// ParseKind returns the kind named s.
func ParseKind(s string) (Kind, error) {
	k := Kind(s)
	if !k.Valid() {
		return "", fmt.Errorf("%w %q: want %q, %q or %q", ErrUnknownKind, s, KindUser, KindBot, KindHost)
	}
	return k, nil
}

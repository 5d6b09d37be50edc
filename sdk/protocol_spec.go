package sdk

import (
	"context"
	"fmt"
)

// ProtocolSpec is what a protocol plugin declares to the host. The host
// knows no protocol: it matches, routes, admits and records by what its
// plugins declare here.
type ProtocolSpec struct {
	// Names are the protocol names databases use in their protocol
	// setting, such as "postgres" or "mysql". Empty means the plugin's
	// name alone.
	Names []string
	// Preambles are what this protocol's clients may send first on the
	// proxy's shared port, before TLS. Two plugins may not declare
	// overlapping preambles.
	Preambles []Preamble
	// OwnPort says the protocol's clients reach the proxy on a port of
	// their own, configured as proxy { protocol "NAME" { listen = ... } }:
	// for protocols whose server speaks first, such as MySQL. The host
	// hands every connection accepted there to the plugin before TLS; the
	// plugin runs its exchange (PreTLS) and completes TLS.
	OwnPort bool
	// Client says how keyway's CLI runs the protocol's client.
	Client ClientSpec
}

// PreambleAction is what the proxy does with a matched preamble.
type PreambleAction int

// The proxy's actions on a matched preamble.
const (
	// PreambleUnknown is no action: a preamble must name one.
	PreambleUnknown PreambleAction = iota
	// PreambleTLS answers Reply, and the client then starts TLS: the
	// session is routed by its certificate (PostgreSQL's SSLRequest).
	PreambleTLS
	// PreambleAnswer answers Reply and reads the client's next preamble
	// (PostgreSQL's GSSENCRequest, declined with N).
	PreambleAnswer
	// PreambleOutOfBand is a request outside any session, such as
	// PostgreSQL's CancelRequest: the host hands the bytes read, on the
	// raw connection, to the plugins that may hold the session it names.
	PreambleOutOfBand
	// PreamblePlaintext is a client that did not ask for TLS: the host
	// hands the connection to the plugin with a refusal, which the plugin
	// words in its protocol.
	PreamblePlaintext
)

// Preamble is a byte pattern a client sends first: it matches when the
// first len(Match) bytes, each ANDed with Mask (all ones when Mask is
// empty), equal Match.
type Preamble struct {
	// Name names the preamble in logs and errors, e.g. "SSLRequest".
	Name  string
	Match []byte
	Mask  []byte
	// Length is how many bytes the preamble takes, read whole before the
	// host acts; zero means len(Match).
	Length int
	Action PreambleAction
	// Reply is what the proxy answers (PreambleTLS, PreambleAnswer).
	Reply []byte
	// KeyTagOffset, for PreambleOutOfBand, is where in the request the
	// route tag of the key it carries sits: the KeyTagSize bytes the
	// plugin copied from Session.KeyTag into the key it issued. The host
	// passes the request only to the plugin or agent whose tag it is.
	// Zero means the request carries no tag, and every plugin of the
	// protocol that may hold the session gets it.
	KeyTagOffset int
}

// KeyTagSize is the size of a route tag (Session.KeyTag).
const KeyTagSize = 2

// Matches reports whether head, the first bytes a client sent, starts
// with the preamble.
func (p Preamble) Matches(head []byte) bool {
	return len(head) >= len(p.Match) && p.Consistent(head)
}

// Size is how many bytes the preamble takes.
func (p Preamble) Size() int {
	if p.Length > 0 {
		return p.Length
	}
	return len(p.Match)
}

// Validate checks a preamble on its own.
func (p Preamble) Validate() error {
	switch {
	case len(p.Match) == 0:
		return fmt.Errorf("preamble %q matches no bytes", p.Name)
	case len(p.Mask) > len(p.Match):
		return fmt.Errorf("preamble %q has a mask longer than its match", p.Name)
	case p.Length != 0 && p.Length < len(p.Match):
		return fmt.Errorf("preamble %q is shorter than its match", p.Name)
	case p.Action < PreambleTLS || p.Action > PreamblePlaintext:
		return fmt.Errorf("preamble %q has no action", p.Name)
	case p.KeyTagOffset < 0:
		return fmt.Errorf("preamble %q has a negative key tag offset", p.Name)
	case p.KeyTagOffset > 0 && p.Action != PreambleOutOfBand:
		return fmt.Errorf("preamble %q has a key tag but is not out of band", p.Name)
	case p.KeyTagOffset > 0 && p.KeyTagOffset+KeyTagSize > p.Size():
		return fmt.Errorf("preamble %q has its key tag past its end", p.Name)
	}
	for i, m := range p.Match {
		if i < len(p.Mask) && m&^p.Mask[i] != 0 {
			return fmt.Errorf("preamble %q matches bits its mask clears", p.Name)
		}
	}
	return nil
}

// Overlaps reports whether some client's first bytes could match both
// preambles: at every position both look at, the bits both masks keep
// agree.
func (p Preamble) Overlaps(q Preamble) bool {
	n := min(len(p.Match), len(q.Match))
	for i := range n {
		both := maskAt(p.Mask, i) & maskAt(q.Mask, i)
		if p.Match[i]&both != q.Match[i]&both {
			return false
		}
	}
	return true
}

func maskAt(mask []byte, i int) byte {
	if i < len(mask) {
		return mask[i]
	}
	return 0xff
}

// ClientSpec says how keyway's CLI runs a protocol's client (keyway db
// connect) and what keyway db env and db config print. Each string is a
// Go text/template over ConnectSettings.
type ClientSpec struct {
	// Command is the client program, found on PATH.
	Command string
	// Args are its arguments, before any the user adds.
	Args []string
	// Env is added to the client's environment, and printed by keyway db
	// env as NAME=VALUE lines.
	Env map[string]string
	// Config is what keyway db config prints: how to configure other
	// clients.
	Config string
	// Install says how to get Command where it is missing.
	Install string
}

// ConnectSettings are what the CLI fills a ClientSpec's templates with.
type ConnectSettings struct {
	// Database is the keyway database's name.
	Database string
	// Host and Port are where the client connects: the proxy, or a local
	// keyway proxy db.
	Host string
	Port string
	// Hosts and Ports list every proxy of the cluster, for clients that
	// try several.
	Hosts, Ports []string
	DBUser       string
	DBName       string
	// CAFile, CertFile and KeyFile are the login's files: the proxy's
	// authority, the user's certificate and its key. They are empty for a
	// local keyway proxy db, which speaks plaintext to the client.
	CAFile, CertFile, KeyFile string
}

// DatabaseChecker is implemented by protocol plugins that check their
// databases' health the way their sessions connect. An agent calls it
// every few seconds for each database it serves; the error says what is
// wrong, and db ls shows it.
type DatabaseChecker interface {
	CheckDatabase(ctx context.Context, db *Database) error
}

// Specified is implemented by protocol plugins that declare a spec; a
// plugin without one serves the protocol of its own name, on no preamble
// and no port of its own.
type Specified interface {
	Spec() ProtocolSpec
}

// Consistent reports whether head, a client's first bytes so far, could
// still be the start of the preamble: every byte of head the preamble
// looks at matches.
func (p Preamble) Consistent(head []byte) bool {
	for i := range min(len(head), len(p.Match)) {
		if head[i]&maskAt(p.Mask, i) != p.Match[i] {
			return false
		}
	}
	return true
}

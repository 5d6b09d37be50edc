package config

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"strings"
)

// problem is one broken rule of a database definition: the attribute at
// fault ("" for the block itself), a summary and a sentence.
type problem struct {
	attr, summary, detail string
}

// databaseProblems checks the rules every database definition follows,
// whether an agent's database block or a db resource. knownProtocol
// reports whether a protocol plugin exists; nil accepts any well-formed
// name, as the CLI and the auth service cannot know the plugins of the
// agents that will serve a resource.
func databaseProblems(db Database, knownProtocol func(string) bool) []problem {
	var out []problem
	add := func(attr, summary, detail string) { out = append(out, problem{attr, summary, detail}) }
	if !namePattern.MatchString(db.Name) {
		add("", "Invalid database name",
			fmt.Sprintf("%q is not a valid database name: use lower-case letters, digits, '-' and '_', starting with a letter.", db.Name))
	}
	switch {
	case knownProtocol != nil && !knownProtocol(db.Protocol):
		add("protocol", "Unknown protocol plugin",
			fmt.Sprintf("Database %q names protocol %q, which is neither built in nor configured in a plugin block.", db.Name, db.Protocol))
	case knownProtocol == nil && !namePattern.MatchString(db.Protocol):
		add("protocol", "Invalid protocol",
			fmt.Sprintf("Database %q: protocol = %q is not a protocol name: lower-case letters, digits, '-' and '_'.", db.Name, db.Protocol))
	}
	if _, _, err := net.SplitHostPort(db.URI); err != nil {
		add("uri", "Invalid database address", fmt.Sprintf("Database %q: uri = %q is not HOST:PORT (%v).", db.Name, db.URI, err))
	}
	if (db.CACertFile != "" || db.CACertPEM != "") && db.TrustSystemCertPool {
		add("trust_system_cert_pool", "Conflicting trust settings",
			fmt.Sprintf("Database %q sets both ca_cert_file and trust_system_cert_pool; choose one.", db.Name))
	}
	if db.Mode != "" && db.Mode != "verify-full" && db.Mode != "verify-ca" {
		add("mode", "Invalid trust mode", fmt.Sprintf("Database %q: mode = %q; use verify-full or verify-ca.", db.Name, db.Mode))
	}
	return append(out, poolProblems(db.Name, db.Pool)...)
}

// CheckDatabase checks a db resource as the auth service receives it: the
// rules of every database definition, and a CA given by content
// (CACertPEM) when it names a CA file. The error lists every problem.
func CheckDatabase(db Database) error {
	var msgs []string
	for _, p := range databaseProblems(db, nil) {
		msgs = append(msgs, p.detail)
	}
	switch {
	case db.CACertFile != "" && db.CACertPEM == "":
		msgs = append(msgs, fmt.Sprintf("Database %q names ca_cert_file %s without its content; keyway create -f reads the file and sends it.", db.Name, db.CACertFile))
	case db.CACertPEM != "":
		if err := checkCAPEM([]byte(db.CACertPEM)); err != nil {
			msgs = append(msgs, fmt.Sprintf("Database %q: the CA of ca_cert_file: %v.", db.Name, err))
		}
	}
	if len(msgs) > 0 {
		return errors.New(strings.Join(msgs, " "))
	}
	return nil
}

// checkCAPEM accepts PEM holding one or more certificates and nothing
// else.
func checkCAPEM(b []byte) error {
	n := 0
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			return fmt.Errorf("it holds a %s block; only CERTIFICATE blocks belong in a CA file", blk.Type)
		}
		if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
			return fmt.Errorf("certificate %d does not parse: %v", n+1, err)
		}
		n++
	}
	if n == 0 {
		return errors.New("it holds no PEM certificate")
	}
	return nil
}

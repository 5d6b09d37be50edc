// Package identity reads and writes the identity a keyway certificate
// carries.
//
// # SPIFFE ID
//
// Every keyway client and host certificate names its subject with exactly
// one URI SAN holding a SPIFFE ID whose trust domain is the cluster name
// and whose path is /KIND/NAME:
//
//	spiffe://example/user/alice
//	spiffe://example/bot/ci-deploy
//	spiffe://example/host/db-agent-1
//
// New builds such an ID; FromCertificate reads it back. Both use go-spiffe,
// so the usual SPIFFE rules hold: the trust domain is lower case letters,
// digits, '.', '-' and '_'; the name is one path segment of letters,
// digits, '.', '-' and '_'. A certificate with any other URI SAN besides
// its SPIFFE ID is refused, as the X509-SVID specification requires.
//
// # Identity extension
//
// What keyway decides with besides the ID (roles, the database users and
// names the subject may use, and the route of a database session) travels
// in a non-critical X.509 extension with object identifier
// 1.3.6.1.4.1.59999.1.1 (OID, a private-enterprise arc reserved here for
// keyway). Its value is the DER encoding of:
//
//	KeywayIdentity ::= SEQUENCE {
//	    version   INTEGER,             -- 1
//	    roles     SEQUENCE OF String,
//	    dbUsers   SEQUENCE OF String,
//	    dbNames   SEQUENCE OF String,
//	    route     [0] EXPLICIT Route OPTIONAL
//	}
//	Route ::= SEQUENCE {
//	    service   UTF8String,          -- name of the database service
//	    dbUser    UTF8String,          -- empty: not fixed by the route
//	    dbName    UTF8String           -- empty: not fixed by the route
//	}
//
// where String is a PrintableString or a UTF8String (Go's encoding/asn1
// picks PrintableString when the text allows it). A reader refuses any
// other version, trailing bytes and text that is not valid UTF-8.
//
// Kind and name are not repeated in the extension: the SPIFFE ID is their
// only source. NotAfter comes from the certificate itself. A certificate
// without the extension has no roles, database users, names or route.
//
// FromCertificate does not verify the certificate: call it only on a
// certificate whose chain has been verified (for example by the TLS
// handshake) against the cluster's authorities.
package identity

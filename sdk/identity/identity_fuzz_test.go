package identity

import (
	"crypto/x509"
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzFromCertificate: on any certificate x509.ParseCertificate accepts,
// FromCertificate never panics, and an identity it returns is coherent
// with the certificate: its one SPIFFE ID, a known kind, a name, the
// certificate's expiry, a route with a service.
func FuzzFromCertificate(f *testing.F) {
	f.Fuzz(func(t *testing.T, der []byte) {
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return
		}
		id, err := FromCertificate(cert)
		if err != nil {
			return
		}
		spiffe := 0
		for _, u := range cert.URIs {
			if strings.EqualFold(u.Scheme, "spiffe") {
				spiffe++
			}
		}
		switch {
		case spiffe != 1:
			t.Fatalf("identity %s from a certificate with %d SPIFFE IDs", id.ID, spiffe)
		case !id.Kind.Valid() || id.Name == "":
			t.Fatalf("identity %s has kind %q and name %q", id.ID, id.Kind, id.Name)
		case id.ID.Path() != "/"+string(id.Kind)+"/"+id.Name:
			t.Fatalf("identity %s: path is not /%s/%s", id.ID, id.Kind, id.Name)
		case !id.NotAfter.Equal(cert.NotAfter):
			t.Fatalf("NotAfter %s, the certificate's is %s", id.NotAfter, cert.NotAfter)
		case id.Route != nil && id.Route.Service == "":
			t.Fatalf("route without a service: %+v", id.Route)
		}
	})
}

// FuzzDecodeExtension: decodeExtension never panics, wraps every error
// in ErrMalformedExtension, and whatever it accepts Encode writes again
// and decodeExtension reads back the same.
func FuzzDecodeExtension(f *testing.F) {
	f.Fuzz(func(t *testing.T, value []byte) {
		var id Identity
		if err := decodeExtension(value, &id); err != nil {
			if !errors.Is(err, ErrMalformedExtension) {
				t.Fatalf("error %q does not wrap ErrMalformedExtension", err)
			}
			return
		}
		ext, err := Encode(id)
		if err != nil {
			t.Fatalf("decoded %+v, which Encode refuses: %v", id, err)
		}
		var again Identity
		if err := decodeExtension(ext.Value, &again); err != nil {
			t.Fatalf("re-encoded extension does not decode: %v", err)
		}
		if !sameTraits(id, again) {
			t.Fatalf("decoded %+v, after Encode %+v", id, again)
		}
	})
}

// FuzzEncodeRoundTrip: Encode refuses only a route without a service and
// text that is not UTF-8; whatever it encodes decodes to the same roles,
// traits and route. Lists are newline-separated; an empty string is an
// empty list.
func FuzzEncodeRoundTrip(f *testing.F) {
	f.Fuzz(func(t *testing.T, roles, dbUsers, dbNames string, hasRoute bool, service, dbUser, dbName string) {
		in := Identity{Kind: KindUser, Name: "fuzz", Roles: list(roles), DBUsers: list(dbUsers), DBNames: list(dbNames)}
		if hasRoute {
			in.Route = &Route{Service: service, DBUser: dbUser, DBName: dbName}
		}
		ext, err := Encode(in)
		if err != nil {
			if valid(in) {
				t.Fatalf("Encode refused %+v: %v", in, err)
			}
			return
		}
		if !valid(in) {
			t.Fatalf("Encode accepted %+v", in)
		}
		if ext.Critical || !ext.Id.Equal(ExtensionOID) {
			t.Fatalf("extension %v critical=%t", ext.Id, ext.Critical)
		}
		var out Identity
		if err := decodeExtension(ext.Value, &out); err != nil {
			t.Fatalf("Encode wrote what decodeExtension refuses: %v", err)
		}
		if !sameTraits(in, out) {
			t.Fatalf("encoded %+v, decoded %+v", in, out)
		}
	})
}

// list splits newline-separated items; "" is no items.
func list(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// valid reports whether Encode should accept id: a route has a service,
// and all text is UTF-8.
func valid(id Identity) bool {
	texts := slices.Concat(id.Roles, id.DBUsers, id.DBNames)
	if id.Route != nil {
		if id.Route.Service == "" {
			return false
		}
		texts = append(texts, id.Route.Service, id.Route.DBUser, id.Route.DBName)
	}
	for _, s := range texts {
		if !utf8.ValidString(s) {
			return false
		}
	}
	return true
}

// sameTraits compares what the extension carries; an absent list and an
// empty one are the same.
func sameTraits(a, b Identity) bool {
	if !slices.Equal(a.Roles, b.Roles) || !slices.Equal(a.DBUsers, b.DBUsers) || !slices.Equal(a.DBNames, b.DBNames) {
		return false
	}
	if a.Route == nil || b.Route == nil {
		return a.Route == b.Route
	}
	return *a.Route == *b.Route
}

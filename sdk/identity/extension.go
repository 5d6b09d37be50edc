package identity

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"unicode/utf8"
)

// ExtensionOID is the object identifier of the keyway identity extension.
var ExtensionOID = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 59999, 1, 1}

// extensionVersion is the only version of the extension's value this
// package writes and reads.
const extensionVersion = 1

// extensionValue is the ASN.1 shape of the extension, see the package doc.
type extensionValue struct {
	Version int
	Roles   []string
	DBUsers []string
	DBNames []string
	Route   routeValue `asn1:"optional,explicit,tag:0"`
}

type routeValue struct {
	Service string `asn1:"utf8"`
	DBUser  string `asn1:"utf8"`
	DBName  string `asn1:"utf8"`
}

// Encode returns the non-critical extension carrying id's roles, database
// users and names, and route. The SPIFFE ID itself goes in the URI SAN,
// not here.
func Encode(id Identity) (pkix.Extension, error) {
	v := extensionValue{
		Version: extensionVersion,
		Roles:   nonNil(id.Roles),
		DBUsers: nonNil(id.DBUsers),
		DBNames: nonNil(id.DBNames),
	}
	if id.Route != nil {
		if id.Route.Service == "" {
			return pkix.Extension{}, fmt.Errorf("encoding identity extension: route has no service")
		}
		v.Route = routeValue(*id.Route)
	}
	if err := v.checkText(); err != nil {
		return pkix.Extension{}, fmt.Errorf("encoding identity extension: %w", err)
	}
	der, err := asn1.Marshal(v)
	if err != nil {
		return pkix.Extension{}, fmt.Errorf("encoding identity extension: %w", err)
	}
	return pkix.Extension{Id: ExtensionOID, Value: der}, nil
}

// decodeExtension parses the extension's value into id.
func decodeExtension(value []byte, id *Identity) error {
	var v extensionValue
	rest, err := asn1.Unmarshal(value, &v)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMalformedExtension, err)
	}
	if len(rest) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrMalformedExtension, len(rest))
	}
	if v.Version != extensionVersion {
		return fmt.Errorf("%w: version %d, this keyway reads version %d", ErrMalformedExtension, v.Version, extensionVersion)
	}
	if err := v.checkText(); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformedExtension, err)
	}
	id.Roles, id.DBUsers, id.DBNames = v.Roles, v.DBUsers, v.DBNames
	if v.Route != (routeValue{}) {
		if v.Route.Service == "" {
			return fmt.Errorf("%w: route has no service", ErrMalformedExtension)
		}
		r := Route(v.Route)
		id.Route = &r
	}
	return nil
}

// checkText refuses text that is not valid UTF-8: it could not round-trip.
func (v extensionValue) checkText() error {
	lists := []struct {
		name   string
		values []string
	}{
		{"role", v.Roles}, {"database user", v.DBUsers}, {"database name", v.DBNames},
		{"route", []string{v.Route.Service, v.Route.DBUser, v.Route.DBName}},
	}
	for _, l := range lists {
		for _, s := range l.values {
			if !utf8.ValidString(s) {
				return fmt.Errorf("%s %q is not valid UTF-8", l.name, s)
			}
		}
	}
	return nil
}

// nonNil makes an absent list encode as an empty SEQUENCE.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

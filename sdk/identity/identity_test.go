package identity

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"net/url"
	"reflect"
	"testing"
	"time"
)

// certWith issues a self-signed certificate with the given URI SANs and
// extensions, parsed back as a peer would see it.
func certWith(t *testing.T, uris []string, exts ...pkix.Extension) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:    big.NewInt(1),
		Subject:         pkix.Name{CommonName: "test"},
		NotBefore:       time.Now().Add(-time.Minute),
		NotAfter:        time.Now().Add(time.Hour).Truncate(time.Second),
		ExtraExtensions: exts,
	}
	for _, s := range uris {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, u)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestNew(t *testing.T) {
	tests := []struct {
		td, name string
		kind     Kind
		want     string
		wantErr  error
	}{
		{td: "example", kind: KindUser, name: "alice", want: "spiffe://example/user/alice"},
		{td: "example.com", kind: KindBot, name: "ci-deploy", want: "spiffe://example.com/bot/ci-deploy"},
		{td: "example", kind: KindHost, name: "db-agent-1", want: "spiffe://example/host/db-agent-1"},
		{td: "example", kind: "admin", name: "alice", wantErr: ErrUnknownKind},
		{td: "Example", kind: KindUser, name: "alice"},
		{td: "", kind: KindUser, name: "alice"},
		{td: "example", kind: KindUser, name: "a/b"},
		{td: "example", kind: KindUser, name: ""},
	}
	for _, tt := range tests {
		t.Run(tt.td+"/"+string(tt.kind)+"/"+tt.name, func(t *testing.T) {
			id, err := New(tt.td, tt.kind, tt.name)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("New = %s, want an error", id)
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %v is not %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if id.String() != tt.want {
				t.Fatalf("New = %s, want %s", id, tt.want)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   Identity
	}{
		{"user with route", Identity{
			Kind: KindUser, Name: "alice",
			Roles:   []string{"access", "dba"},
			DBUsers: []string{"*", "postgres"}, DBNames: []string{"^app_.*$"},
			Route: &Route{Service: "example-postgres", DBUser: "postgres", DBName: "postgres"},
		}},
		{"bot without route", Identity{Kind: KindBot, Name: "ci", Roles: []string{"deployer"}}},
		{"host without anything", Identity{Kind: KindHost, Name: "agent-1"}},
		{"unicode traits", Identity{Kind: KindUser, Name: "bob", DBNames: []string{"bücher"}, Route: &Route{Service: "s"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := New("example", tt.in.Kind, tt.in.Name)
			if err != nil {
				t.Fatal(err)
			}
			tt.in.ID = id
			ext, err := Encode(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if ext.Critical {
				t.Error("extension is critical; verifiers that do not know it would refuse the certificate")
			}
			cert := certWith(t, []string{id.String()}, ext)
			got, err := FromCertificate(cert)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.in
			want.NotAfter = cert.NotAfter
			for _, l := range []*[]string{&want.Roles, &want.DBUsers, &want.DBNames} {
				if *l == nil {
					*l = []string{}
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestFromCertificateWithoutExtension(t *testing.T) {
	got, err := FromCertificate(certWith(t, []string{"spiffe://example/host/proxy"}))
	if err != nil {
		t.Fatal(err)
	}
	if got.Kind != KindHost || got.Name != "proxy" || got.Roles != nil || got.Route != nil {
		t.Fatalf("got %+v", got)
	}
}

func TestFromCertificateErrors(t *testing.T) {
	rawExt := func(v any) pkix.Extension {
		der, err := asn1.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return pkix.Extension{Id: ExtensionOID, Value: der}
	}
	good := rawExt(extensionValue{Version: 1, Roles: []string{}, DBUsers: []string{}, DBNames: []string{}})
	tests := []struct {
		name    string
		uris    []string
		exts    []pkix.Extension
		wantErr error
	}{
		{"no URI", nil, nil, ErrNoSPIFFEID},
		{"only https URI", []string{"https://example.com/alice"}, nil, ErrNoSPIFFEID},
		{"two SPIFFE IDs", []string{"spiffe://example/user/alice", "spiffe://example/user/bob"}, nil, ErrSeveralSPIFFEIDs},
		{"SPIFFE ID and another URI", []string{"spiffe://example/user/alice", "https://example.com"}, nil, nil},
		{"unknown kind", []string{"spiffe://example/admin/alice"}, nil, ErrUnknownKind},
		{"path too short", []string{"spiffe://example/user"}, nil, ErrUnknownKind},
		{"path too long", []string{"spiffe://example/user/alice/x"}, nil, ErrUnknownKind},
		{"no path", []string{"spiffe://example"}, nil, ErrUnknownKind},
		{"extension not ASN.1", []string{"spiffe://example/user/alice"}, []pkix.Extension{{Id: ExtensionOID, Value: []byte("{json}")}}, ErrMalformedExtension},
		{"extension trailing bytes", []string{"spiffe://example/user/alice"}, []pkix.Extension{{Id: ExtensionOID, Value: append(append([]byte{}, good.Value...), 0)}}, ErrMalformedExtension},
		{"extension version 2", []string{"spiffe://example/user/alice"}, []pkix.Extension{rawExt(extensionValue{Version: 2, Roles: []string{}, DBUsers: []string{}, DBNames: []string{}})}, ErrMalformedExtension},
		{"route without service", []string{"spiffe://example/user/alice"}, []pkix.Extension{rawExt(extensionValue{Version: 1, Roles: []string{}, DBUsers: []string{}, DBNames: []string{}, Route: routeValue{DBUser: "postgres"}})}, ErrMalformedExtension},
		{"extension wrong shape", []string{"spiffe://example/user/alice"}, []pkix.Extension{rawExt([]string{"access"})}, ErrMalformedExtension},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FromCertificate(certWith(t, tt.uris, tt.exts...))
			if err == nil {
				t.Fatalf("FromCertificate = %+v, want an error", got)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %q is not %q", err, tt.wantErr)
			}
			t.Log(err)
		})
	}
	if _, err := FromCertificate(nil); err == nil {
		t.Error("FromCertificate(nil) succeeded")
	}
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name string
		in   Identity
	}{
		{"route without service", Identity{Kind: KindUser, Name: "a", Route: &Route{DBUser: "postgres"}}},
		{"invalid UTF-8 role", Identity{Kind: KindUser, Name: "a", Roles: []string{"\xff"}}},
		{"invalid UTF-8 route", Identity{Kind: KindUser, Name: "a", Route: &Route{Service: "s", DBName: "\xfe"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Encode(tt.in); err == nil {
				t.Fatal("Encode succeeded")
			} else {
				t.Log(err)
			}
		})
	}
}

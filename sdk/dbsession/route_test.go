package dbsession

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/sdk"
	"github.com/keyway-dev/keyway/sdk/identity"
)

// userCert makes a self-signed client certificate carrying alice's
// keyway identity with route r (nil for none).
func userCert(t testing.TB, r *identity.Route) []byte {
	t.Helper()
	id, err := identity.New("test.keyway", identity.KindUser, "alice")
	if err != nil {
		t.Fatal(err)
	}
	ext, err := identity.Encode(identity.Identity{Roles: []string{"access"}, DBUsers: []string{"*"}, Route: r})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "alice"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		URIs: []*url.URL{id.URL()}, ExtraExtensions: []pkix.Extension{ext},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestCheckRoute(t *testing.T) {
	routed := userCert(t, &identity.Route{Service: "orders", DBUser: "app", DBName: "shop"})
	open := userCert(t, nil)
	db := &sdk.Database{Name: "orders"}
	tests := []struct {
		name           string
		chain          [][]byte
		db             *sdk.Database
		dbUser, dbName string
		want           string // "" to pass, else part of the sentence
	}{
		{"the route's login", [][]byte{routed}, db, "app", "shop", ""},
		{"no route: any login", [][]byte{open}, db, "other", "other", ""},
		{"another database user", [][]byte{routed}, db, "postgres", "shop", `for database user "app", not "postgres"`},
		{"another logical database", [][]byte{routed}, db, "app", "other", `for database name "shop", not "other"`},
		{"another database", [][]byte{routed}, &sdk.Database{Name: "billing"}, "app", "shop", "is for database orders, not billing"},
		{"no database user", [][]byte{open}, db, "", "shop", "names no database user"},
		{"no certificate", nil, db, "app", "shop", "this session has none"},
		{"not a certificate", [][]byte{[]byte("nonsense")}, db, "app", "shop", "cannot be parsed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &sdk.Session{ClientCertificates: tt.chain, Database: tt.db}
			id, err := CheckRoute(s, tt.dbUser, tt.dbName)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("err = %v, want %q", err, tt.want)
			case err == nil && (id.Name != "alice" || id.Roles[0] != "access"):
				t.Fatalf("identity %+v, want alice's", id)
			}
		})
	}
}

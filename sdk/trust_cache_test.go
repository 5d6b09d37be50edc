package sdk

import (
	"crypto/tls"
	"testing"
)

func TestTrustCacheSharesOnePoolPerTrust(t *testing.T) {
	a, _ := testCA(t, "a")
	b, _ := testCA(t, "b")
	var c TrustCache
	cfg := func(ca []byte, mode string) *tls.Config {
		t.Helper()
		got, err := c.ClientConfig(ServerTrust{CAPEM: ca, Mode: mode}, "db.internal:5432", tls.Certificate{})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	first, again, other := cfg(a, ""), cfg(a, VerifyCA), cfg(b, "")
	if first.RootCAs != again.RootCAs {
		t.Fatal("two configurations of one CA got two pools")
	}
	if first.RootCAs == other.RootCAs {
		t.Fatal("two CAs share a pool")
	}
	if first.ServerName != "db.internal" || !again.InsecureSkipVerify || again.VerifyConnection == nil {
		t.Fatalf("the cached configurations lost their settings: %+v %+v", first, again)
	}
	if roots, err := (ServerTrust{CAPEM: a}).roots(); err != nil || !first.RootCAs.Equal(roots) {
		t.Fatalf("the cached pool is not the trust's pool (%v)", err)
	}
	if _, err := c.ClientConfig(ServerTrust{CAPEM: []byte("not PEM")}, "db:5432", tls.Certificate{}); err == nil {
		t.Fatal("a trust without certificates was accepted")
	}
}

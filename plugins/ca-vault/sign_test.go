package cavault

import (
	"bytes"
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/sdk"
)

// The signing tests run against every backend: each signs with its own
// kind of key (in memory, from the operator's files, in a token).

func TestSignIssuesVerifiableLeaves(t *testing.T) {
	forEachBackend(t, allBackends, "", testSignIssuesVerifiableLeaves)
}

func testSignIssuesVerifiableLeaves(t *testing.T, e *backendEnv) {
	v := e.v
	states := authorityStates(t, v)
	now := e.clock.now()
	customOID := asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 59999, 9, 9}
	tests := []struct {
		name      string
		authority sdk.Authority
		usages    []string
		want      []x509.ExtKeyUsage
		wrong     x509.ExtKeyUsage // a usage the leaf must not verify for
	}{
		{"user client cert", sdk.AuthorityUser, []string{"client"}, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, x509.ExtKeyUsageServerAuth},
		{"host server and client cert", sdk.AuthorityHost, []string{"server", "client"}, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, x509.ExtKeyUsageCodeSigning},
		{"db server cert", sdk.AuthorityDB, []string{"server"}, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, x509.ExtKeyUsageClientAuth},
		{"db-client cert", sdk.AuthorityDBClient, []string{"client", "client"}, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, x509.ExtKeyUsageServerAuth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := sdk.SignRequest{
				Authority:   tt.authority,
				CSR:         makeCSR(t, ecKey(t)),
				CommonName:  "postgres",
				DNSNames:    []string{"db.example.com"},
				IPAddresses: []string{"127.0.0.1", "::1"},
				URIs:        []string{"spiffe://example/host/agent-1"},
				Extensions:  []pkix.Extension{{Id: customOID, Value: []byte{0x05, 0x00}}},
				NotBefore:   now.Add(-time.Minute),
				NotAfter:    now.Add(2 * time.Hour),
				Usages:      tt.usages,
			}
			resp, err := v.Sign(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			leaf := parseCerts(t, [][]byte{resp.Certificate})[0]
			ca := parseCerts(t, states[tt.authority].Certificates)[0]
			if len(resp.Chain) != 1 || !bytes.Equal(resp.Chain[0], ca.Raw) {
				t.Fatalf("chain is not the %s CA certificate", tt.authority)
			}
			pool := poolOf(t, states[tt.authority])
			for _, u := range tt.want {
				if err := verifies(leaf, pool, now, u); err != nil {
					t.Errorf("leaf does not verify for usage %v: %v", u, err)
				}
			}
			if err := verifies(leaf, pool, now, tt.wrong); err == nil {
				t.Errorf("leaf verifies for usage %v it was not issued for", tt.wrong)
			}
			for _, other := range authorities() {
				if other == tt.authority {
					continue
				}
				if err := verifies(leaf, poolOf(t, states[other]), now, tt.want[0]); err == nil {
					t.Errorf("leaf of the %s authority verifies against the %s authority", tt.authority, other)
				}
			}
			if !slices.Equal(leaf.ExtKeyUsage, tt.want) {
				t.Errorf("ExtKeyUsage %v, want %v", leaf.ExtKeyUsage, tt.want)
			}
			checkLeafFields(t, leaf, ca, req, customOID)
		})
	}
}

func checkLeafFields(t *testing.T, leaf, ca *x509.Certificate, req sdk.SignRequest, customOID asn1.ObjectIdentifier) {
	t.Helper()
	if leaf.Subject.CommonName != req.CommonName {
		t.Errorf("CN %q, want %q", leaf.Subject.CommonName, req.CommonName)
	}
	if !slices.Equal(leaf.DNSNames, req.DNSNames) {
		t.Errorf("DNS names %v, want %v", leaf.DNSNames, req.DNSNames)
	}
	if len(leaf.IPAddresses) != 2 || !leaf.IPAddresses[0].Equal(net.ParseIP("127.0.0.1")) || !leaf.IPAddresses[1].Equal(net.IPv6loopback) {
		t.Errorf("IP addresses %v, want %v", leaf.IPAddresses, req.IPAddresses)
	}
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != req.URIs[0] {
		t.Errorf("URIs %v, want %v", leaf.URIs, req.URIs)
	}
	if !leaf.NotBefore.Equal(req.NotBefore) || !leaf.NotAfter.Equal(req.NotAfter) {
		t.Errorf("validity %v..%v, want %v..%v", leaf.NotBefore, leaf.NotAfter, req.NotBefore, req.NotAfter)
	}
	if leaf.IsCA || !leaf.BasicConstraintsValid {
		t.Error("leaf is not marked CA:FALSE")
	}
	if leaf.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("ECDSA leaf key usage %b, want digitalSignature only", leaf.KeyUsage)
	}
	if bl := leaf.SerialNumber.BitLen(); bl < 96 || bl > 128 {
		t.Errorf("serial has %d bits, want a random 128-bit number", bl)
	}
	if len(leaf.SubjectKeyId) == 0 || !bytes.Equal(leaf.AuthorityKeyId, ca.SubjectKeyId) {
		t.Errorf("SKI %x, AKI %x; want an SKI and AKI = CA SKI %x", leaf.SubjectKeyId, leaf.AuthorityKeyId, ca.SubjectKeyId)
	}
	found := false
	for _, e := range leaf.Extensions {
		found = found || e.Id.Equal(customOID)
	}
	if !found {
		t.Error("the requested extension is missing")
	}
}

func TestSignSerialsDiffer(t *testing.T) {
	forEachBackend(t, allBackends, "", func(t *testing.T, e *backendEnv) {
		req := signRequest(t, sdk.AuthorityUser, e.clock.now())
		a, b := sign(t, e.v, req), sign(t, e.v, req)
		if a.SerialNumber.Cmp(b.SerialNumber) == 0 {
			t.Fatal("two certificates got the same serial")
		}
	})
}

func TestSignRefusesBadRequests(t *testing.T) {
	forEachBackend(t, allBackends, "", testSignRefusesBadRequests)
}

func testSignRefusesBadRequests(t *testing.T, e *backendEnv) {
	v := e.v
	caNotAfter := parseCerts(t, authorityStates(t, v)[sdk.AuthorityUser].Certificates)[0].NotAfter
	now := e.clock.now()
	tests := []struct {
		name    string
		edit    func(r *sdk.SignRequest)
		wantMsg string
	}{
		{"unknown authority", func(r *sdk.SignRequest) { r.Authority = sdk.Authority(9) }, "unknown authority 9"},
		{"unset authority", func(r *sdk.SignRequest) { r.Authority = sdk.AuthorityUnknown }, "unknown authority 0"},
		{"CSR not DER", func(r *sdk.SignRequest) { r.CSR = []byte("-----BEGIN CERTIFICATE REQUEST-----") }, "parsing the CSR"},
		{"CSR signature broken", func(r *sdk.SignRequest) { r.CSR[len(r.CSR)-3] ^= 0xff }, "signature does not verify"},
		{"NotAfter beyond the CA", func(r *sdk.SignRequest) { r.NotAfter = caNotAfter.Add(time.Second) }, "beyond the CA certificate's NotAfter"},
		{"NotAfter equal to NotBefore", func(r *sdk.SignRequest) { r.NotAfter = r.NotBefore }, "is not after NotBefore"},
		{"NotAfter before NotBefore", func(r *sdk.SignRequest) { r.NotAfter = r.NotBefore.Add(-time.Hour) }, "is not after NotBefore"},
		{"no NotBefore", func(r *sdk.SignRequest) { r.NotBefore = time.Time{} }, "no NotBefore"},
		{"NotBefore at the epoch", func(r *sdk.SignRequest) { r.NotBefore = time.Unix(0, 0) }, "no NotBefore"},
		{"no NotAfter", func(r *sdk.SignRequest) { r.NotAfter = time.Time{} }, "no NotAfter"},
		{"no usage", func(r *sdk.SignRequest) { r.Usages = nil }, "no usage"},
		{"unknown usage", func(r *sdk.SignRequest) { r.Usages = []string{"client", "codesigning"} }, `unknown usage "codesigning"`},
		{"bad IP", func(r *sdk.SignRequest) { r.IPAddresses = []string{"10.0.0.300"} }, "not an IP address"},
		{"URI without scheme", func(r *sdk.SignRequest) { r.URIs = []string{"example/user/alice"} }, "has no scheme"},
		{"no subject", func(r *sdk.SignRequest) { r.CommonName, r.URIs = "", nil }, "names no subject"},
		{"basic constraints smuggled in", func(r *sdk.SignRequest) {
			r.Extensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 19}, Critical: true, Value: []byte{0x30, 0x03, 0x01, 0x01, 0xff}}}
		}, "only the CA sets"},
		{"extension twice", func(r *sdk.SignRequest) {
			e := pkix.Extension{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 59999, 9, 9}, Value: []byte{5, 0}}
			r.Extensions = []pkix.Extension{e, e}
		}, "appears twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := signRequest(t, sdk.AuthorityUser, now)
			tt.edit(&req)
			resp, err := v.Sign(context.Background(), req)
			if err == nil {
				t.Fatalf("Sign succeeded (%d bytes), want an error containing %q", len(resp.Certificate), tt.wantMsg)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("error %q, want one containing %q", err, tt.wantMsg)
			}
		})
	}
}

func TestSignRefusesWeakRSAKey(t *testing.T) {
	forEachBackend(t, allBackends, "", func(t *testing.T, e *backendEnv) {
		req := signRequest(t, sdk.AuthorityUser, e.clock.now())
		req.CSR = makeCSR(t, rsaKey(t, 1024))
		if _, err := e.v.Sign(context.Background(), req); err == nil || !strings.Contains(err.Error(), "at least 2048") {
			t.Fatalf("Sign with a 1024-bit RSA key: %v", err)
		}
	})
}

func TestUnconfigured(t *testing.T) {
	v := newVault(time.Now)
	ctx := context.Background()
	if err := v.Health(ctx); err == nil {
		t.Error("Health of an unconfigured plugin is nil")
	}
	if _, err := v.Sign(ctx, sdk.SignRequest{Authority: sdk.AuthorityUser}); err == nil {
		t.Error("Sign succeeded before Configure")
	}
	if _, err := v.Authorities(ctx); err == nil {
		t.Error("Authorities succeeded before Configure")
	}
}

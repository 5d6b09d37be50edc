package agent

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"math/big"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
)

// renewingClient answers RenewHost by signing the CSR with ca, or with
// err.
type renewingClient struct {
	apiv1.AgentClient
	t   *testing.T
	ca  testCA
	cas [][]byte
	err error
}

func (f renewingClient) RenewHost(_ context.Context, req *apiv1.RenewHostRequest, _ ...grpc.CallOption) (*apiv1.RenewHostResponse, error) {
	if f.err != nil {
		return nil, f.err
	}
	csr, err := x509.ParseCertificateRequest(req.GetCsr())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: csr.Subject,
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, f.ca.cert, csr.PublicKey, f.ca.key)
	if err != nil {
		f.t.Fatal(err)
	}
	return &apiv1.RenewHostResponse{Certificate: der, HostCas: f.cas, NotAfterUnix: tmpl.NotAfter.Unix()}, nil
}

func TestRenewStoresAndHandsOnTheNewCertificate(t *testing.T) {
	oldCA, newCA := newTestCA(t), newTestCA(t)
	dataDir := joinedDataDir(t)
	holder := NewCurrentIdentity(Identity{Cert: oldCA.issue(t, "spiffe://c/host/agent"), HostCAs: [][]byte{oldCA.cert.Raw}, Cluster: "c"})
	remote := &Remote{}
	// A rotation in its grace period: the new authority signs, both are
	// trusted.
	remote.Attach("p", renewingClient{t: t, ca: newCA, cas: [][]byte{newCA.cert.Raw, oldCA.cert.Raw}})
	r := &Renewer{DataDir: dataDir, Identity: holder, Remote: remote, Logger: hclog.NewNullLogger()}
	if err := r.Renew(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := holder.Get()
	if len(got.HostCAs) != 2 || got.Cluster != "c" {
		t.Fatalf("identity after renewal: %d host authorities, cluster %q", len(got.HostCAs), got.Cluster)
	}
	if _, err := got.Cert.Leaf.Verify(x509.VerifyOptions{Roots: mustPool(t, holder), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Fatalf("the renewed certificate is not trusted by the agent's new set: %v", err)
	}
	stored, found, err := LoadIdentity(dataDir)
	if err != nil || !found {
		t.Fatalf("stored identity: found %v, %v", found, err)
	}
	if !bytes.Equal(stored.Cert.Certificate[0], got.Cert.Certificate[0]) || len(stored.HostCAs) != 2 {
		t.Fatal("the files do not hold the renewed certificate and authorities")
	}
	info, err := os.Stat(filepath.Join(identityDir(dataDir), "host.key"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("host.key mode %v", info.Mode().Perm())
	}
}

func TestRenewRefusals(t *testing.T) {
	ca, other := newTestCA(t), newTestCA(t)
	tests := []struct {
		name   string
		client apiv1.AgentClient
	}{
		{"the auth service refuses", renewingClient{t: t, ca: ca, cas: [][]byte{ca.cert.Raw}, err: status.Error(codes.InvalidArgument, "no")}},
		{"signed by an authority not returned", renewingClient{t: t, ca: other, cas: [][]byte{ca.cert.Raw}}},
		{"no host authority returned", renewingClient{t: t, ca: ca}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dataDir := joinedDataDir(t)
			before := Identity{Cert: ca.issue(t, "spiffe://c/host/agent"), HostCAs: [][]byte{ca.cert.Raw}, Cluster: "c"}
			holder := NewCurrentIdentity(before)
			remote := &Remote{}
			remote.Attach("p", tt.client)
			r := &Renewer{DataDir: dataDir, Identity: holder, Remote: remote, Logger: hclog.NewNullLogger()}
			if err := r.Renew(context.Background()); err == nil {
				t.Fatal("renewal accepted")
			}
			if !bytes.Equal(holder.Get().Cert.Certificate[0], before.Cert.Certificate[0]) {
				t.Fatal("the identity changed")
			}
			if _, err := os.Stat(filepath.Join(identityDir(dataDir), "host.crt")); err == nil {
				t.Fatal("files were written")
			}
		})
	}
}

func TestRenewWithoutTunnelGivesUp(t *testing.T) {
	ca := newTestCA(t)
	holder := NewCurrentIdentity(Identity{Cert: ca.issue(t, "spiffe://c/host/agent"), HostCAs: [][]byte{ca.cert.Raw}, Cluster: "c"})
	r := &Renewer{DataDir: t.TempDir(), Identity: holder, Remote: &Remote{}, Logger: hclog.NewNullLogger()}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := r.Renew(ctx); err == nil {
		t.Fatal("renewal without a tunnel succeeded")
	}
}

// joinedDataDir is a data directory with the agent's cluster file, as a
// join leaves it, and no certificate yet.
func joinedDataDir(t *testing.T) string {
	t.Helper()
	dataDir := t.TempDir()
	if err := os.MkdirAll(identityDir(dataDir), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(identityDir(dataDir), "cluster"), []byte("c\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dataDir
}

func mustPool(t *testing.T, c *CurrentIdentity) *x509.CertPool {
	t.Helper()
	pool, err := c.HostPool()
	if err != nil {
		t.Fatal(err)
	}
	return pool
}

// flakyClient fails its first RenewHost calls, then signs.
type flakyClient struct {
	renewingClient
	failures atomic.Int64
}

func (f *flakyClient) RenewHost(ctx context.Context, req *apiv1.RenewHostRequest, opts ...grpc.CallOption) (*apiv1.RenewHostResponse, error) {
	if f.failures.Add(-1) >= 0 {
		return nil, status.Error(codes.Unavailable, "the auth service is away")
	}
	return f.renewingClient.RenewHost(ctx, req, opts...)
}

func TestRunRenewsWhenDueAndRetriesAfterAFailure(t *testing.T) {
	ca := newTestCA(t)
	before := ca.issue(t, "spiffe://c/host/agent")
	holder := NewCurrentIdentity(Identity{Cert: before, HostCAs: [][]byte{ca.cert.Raw}, Cluster: "c"})
	client := &flakyClient{renewingClient: renewingClient{t: t, ca: ca, cas: [][]byte{ca.cert.Raw}}}
	client.failures.Store(1)
	remote := &Remote{}
	remote.Attach("p", client)
	// The clock is past two thirds of the certificate's lifetime.
	r := &Renewer{
		DataDir: joinedDataDir(t), Identity: holder, Remote: remote, Logger: hclog.NewNullLogger(),
		Now: func() time.Time { return time.Now().Add(50 * time.Minute) },
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(10 * time.Second)
	for bytes.Equal(holder.Get().Cert.Certificate[0], before.Certificate[0]) {
		if time.Now().After(deadline) {
			t.Fatal("the certificate was not renewed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if client.failures.Load() >= 0 {
		t.Fatal("renewed without going through the failure")
	}
}

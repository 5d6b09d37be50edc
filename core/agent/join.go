package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/auth"
	"github.com/keyway-dev/keyway/core/authority"
	"github.com/keyway-dev/keyway/core/tunnel"
)

// Identity is an agent's host certificate, key and the cluster's host
// authority, kept under its data directory.
type Identity struct {
	Cert    tls.Certificate
	HostCAs [][]byte
	Cluster string
}

// identityDir is where a joined agent keeps its identity.
func identityDir(dataDir string) string { return filepath.Join(dataDir, "agent") }

// LoadIdentity reads a joined agent's identity; found is false before the
// first join.
func LoadIdentity(dataDir string) (Identity, bool, error) {
	return LoadIdentityAt(identityDir(dataDir))
}

// LoadIdentityAt reads an identity a join stored in dir (see JoinAt);
// found is false before the first join.
func LoadIdentityAt(dir string) (Identity, bool, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, "host.crt"))
	if errors.Is(err, os.ErrNotExist) {
		return Identity{}, false, nil
	}
	if err != nil {
		return Identity{}, false, err
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, "host.key"))
	if err != nil {
		return Identity{}, false, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return Identity{}, false, fmt.Errorf("the host certificate in %s: %w", dir, err)
	}
	casPEM, err := os.ReadFile(filepath.Join(dir, "host.cas"))
	if err != nil {
		return Identity{}, false, err
	}
	cluster, err := os.ReadFile(filepath.Join(dir, "cluster"))
	if err != nil {
		return Identity{}, false, err
	}
	return Identity{Cert: cert, HostCAs: pemCerts(casPEM), Cluster: strings.TrimSpace(string(cluster))}, true, nil
}

// TokenPath is the file holding the join token of the agent hostName:
// tokenFile itself, or, when tokenFile is a directory, the file in it
// named after the agent. A directory serves replicas that share one
// configuration, each joining with a token of its own (a Kubernetes
// Secret with a key per pod name, mounted as a directory).
func TokenPath(tokenFile, hostName string) (string, error) {
	fi, err := os.Stat(tokenFile)
	if err != nil {
		return "", fmt.Errorf("reading the join token: %w", err)
	}
	if !fi.IsDir() {
		return tokenFile, nil
	}
	path := filepath.Join(tokenFile, hostName)
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("token_file %s is a directory without a token for this agent: add a file named %s (the agent's name) holding its join token", tokenFile, hostName)
	}
	return path, nil
}

// Join exchanges the token in tokenFile (see TokenPath) for a host
// certificate, checking the proxy against the pin the token carries, and
// stores the identity.
func Join(ctx context.Context, proxyAddr, tokenFile, dataDir, hostName string) (Identity, error) {
	return JoinAt(ctx, proxyAddr, tokenFile, identityDir(dataDir), hostName)
}

// JoinAt exchanges the token in tokenFile for a host certificate at the
// cluster API on addr, a proxy's or the auth service's port, checking
// it against the pin the token carries, and stores the identity in dir.
func JoinAt(ctx context.Context, proxyAddr, tokenFile, dir, hostName string) (Identity, error) {
	tokenFile, err := TokenPath(tokenFile, hostName)
	if err != nil {
		return Identity{}, err
	}
	raw, err := os.ReadFile(tokenFile)
	if err != nil {
		return Identity{}, fmt.Errorf("reading the join token: %w", err)
	}
	secret, pin, err := auth.ParseToken(string(raw))
	if err != nil {
		return Identity{}, fmt.Errorf("%s: %w", tokenFile, err)
	}
	host, _, err := net.SplitHostPort(proxyAddr)
	if err != nil {
		return Identity{}, fmt.Errorf("proxy address %q: %w", proxyAddr, err)
	}
	conn, err := DialAPI(ctx, proxyAddr, authority.PinnedTLS(pin, host, tunnel.ALPNAPI))
	if err != nil {
		return Identity{}, err
	}
	defer func() { _ = conn.Close() }()
	key, err := authority.NewKey("")
	if err != nil {
		return Identity{}, err
	}
	csr, err := authority.NewCSR(key, hostName)
	if err != nil {
		return Identity{}, err
	}
	resp, err := apiv1.NewAuthClient(conn).Join(ctx, &apiv1.JoinRequest{Token: secret, HostName: hostName, Csr: csr})
	if err != nil {
		return Identity{}, fmt.Errorf("joining the cluster through %s: %s", proxyAddr, status.Convert(err).Message())
	}
	keyPEM, err := authority.KeyPEM(key)
	if err != nil {
		return Identity{}, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Identity{}, err
	}
	if err := WriteHostFiles(dir, keyPEM, [][]byte{resp.GetCertificate()}, resp.GetHostCas()); err != nil {
		return Identity{}, err
	}
	if err := authority.WriteFile(filepath.Join(dir, "cluster"), []byte(resp.GetClusterName()+"\n"), 0o644); err != nil {
		return Identity{}, err
	}
	id, _, err := LoadIdentityAt(dir)
	return id, err
}

// WriteHostFiles writes the host key (0600), certificate and host
// authorities under dir, each atomically: the key first, then the
// certificate that matches it.
func WriteHostFiles(dir string, keyPEM []byte, chain, hostCAs [][]byte) error {
	files := []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{"host.key", keyPEM, 0o600},
		{"host.crt", authority.CertsPEM(chain...), 0o644},
		{"host.cas", authority.CertsPEM(hostCAs...), 0o644},
	}
	for _, f := range files {
		if err := authority.WriteFile(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return err
		}
	}
	return nil
}

// DialAPI opens a gRPC connection to the cluster API over TLS with cfg,
// to a server with the cluster's host identity.
func DialAPI(ctx context.Context, addr string, cfg *tls.Config) (*grpc.ClientConn, error) {
	cfg = authority.RequireHostIdentity(cfg.Clone())
	dial := func(ctx context.Context, _ string) (net.Conn, error) {
		d := tls.Dialer{Config: cfg, NetDialer: &net.Dialer{Timeout: 10 * time.Second}}
		return d.DialContext(ctx, "tcp", addr)
	}
	conn, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithContextDialer(dial),
		grpc.WithTransportCredentials(insecure.NewCredentials()), // TLS is done by the dialer
	)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", addr, err)
	}
	return conn, nil
}

func pemCerts(b []byte) [][]byte {
	var out [][]byte
	for {
		var blk *pemBlock
		blk, b = decodePEM(b)
		if blk == nil {
			return out
		}
		out = append(out, blk.Bytes)
	}
}

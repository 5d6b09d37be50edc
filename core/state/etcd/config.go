package etcd

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"
)

// Defaults of Config.
const (
	DefaultPrefix      = "/keyway/"
	DefaultDialTimeout = 5 * time.Second
	DefaultWatchBuffer = 1024
)

// Config says how to reach etcd and where the state lives in it.
type Config struct {
	// Endpoints are the client URLs of the etcd members, e.g.
	// "https://10.0.0.1:2379".
	Endpoints []string
	// DialTimeout bounds Open's first contact with the cluster; 0 or less
	// means DefaultDialTimeout.
	DialTimeout time.Duration
	// Prefix is put before every key: several keyway clusters can share
	// one etcd under different prefixes. Empty means DefaultPrefix.
	Prefix string
	// TLS, optional: the CA to verify the members with (empty: the
	// system's roots) and a client certificate and key (both or neither).
	// Any of them set turns TLS on.
	CAFile, CertFile, KeyFile string
	// WatchBuffer is how many unread events a watcher may have before its
	// watch ends with EventLost; 0 or less means DefaultWatchBuffer.
	WatchBuffer int
}

func (c Config) withDefaults() Config {
	if c.DialTimeout <= 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.WatchBuffer <= 0 {
		c.WatchBuffer = DefaultWatchBuffer
	}
	return c
}

func (c Config) validate() error {
	if len(c.Endpoints) == 0 {
		return errors.New("no etcd endpoints")
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return errors.New("etcd client certificate and key go together")
	}
	return nil
}

// tlsConfig is the TLS configuration from the files; nil when none is set.
func (c Config) tlsConfig() (*tls.Config, error) {
	if c.CAFile == "" && c.CertFile == "" && c.KeyFile == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("etcd CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("etcd CA %s: no PEM certificate", c.CAFile)
		}
		cfg.RootCAs = pool
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("etcd client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

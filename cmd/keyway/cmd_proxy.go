package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyway-dev/keyway/core/client"
	"github.com/keyway-dev/keyway/sdk"
)

// PostgreSQL's SSLRequest code.
const sslRequestCode = 80877103

func newProxyCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "proxy", Short: "Run local proxies for clients that cannot present certificates"}
	var port int
	var dbUser, dbName, bind string
	db := &cobra.Command{
		Use:   "db --port=PORT NAME --db-user=USER",
		Short: "Serve a database on localhost for any PostgreSQL client or GUI",
		Long: `Listen on localhost and forward each connection to the database through
the cluster's proxy with your certificate for it. Clients connect without
TLS and without a password: host=127.0.0.1 port=PORT sslmode=disable.
Only this machine can reach the port.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if ip := net.ParseIP(bind); bind != "localhost" && (ip == nil || !ip.IsLoopback()) {
				return fmt.Errorf("--bind=%s would let anyone who reaches this machine use your database login without a password; keyway proxy db serves loopback addresses only", bind)
			}
			prof, f, err := dbLogin(cmd, args[0], dbUser, dbName)
			if err != nil {
				return err
			}
			var current atomic.Pointer[tls.Certificate]
			load := func() (time.Time, error) {
				c, err := tls.LoadX509KeyPair(f.prefix+".crt", f.prefix+".key")
				if err != nil {
					return time.Time{}, err
				}
				leaf, err := x509.ParseCertificate(c.Certificate[0])
				if err != nil {
					return time.Time{}, err
				}
				current.Store(&c)
				return leaf.NotAfter, nil
			}
			notAfter, err := load()
			if err != nil {
				return err
			}
			cfg, err := prof.TLSConfig(nil)
			if err != nil {
				return err
			}
			cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return current.Load(), nil }
			ln, err := net.Listen("tcp", net.JoinHostPort(bind, fmt.Sprint(port)))
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			go func() { <-ctx.Done(); _ = ln.Close() }()
			// Renew the database certificate at two thirds of its life, so
			// clients never meet an expired one while the login lasts.
			go func() {
				for {
					wait := time.Until(notAfter) * 2 / 3
					select {
					case <-ctx.Done():
						return
					case <-time.After(max(wait, time.Minute)):
					}
					if _, _, err := dbLogin(cmd, args[0], dbUser, dbName); err != nil {
						fmt.Fprintf(cmd.ErrOrStderr(), "renewing the certificate for %s: %v\n", args[0], err)
						continue
					}
					if notAfter, err = load(); err != nil {
						fmt.Fprintf(cmd.ErrOrStderr(), "loading the renewed certificate: %v\n", err)
					}
				}
			}()
			fmt.Fprintf(cmd.OutOrStdout(), "serving %s on %s as database user %s; connect with:\n  psql \"host=%s port=%d user=%s sslmode=disable\"\n",
				args[0], ln.Addr(), dbUser, bind, ln.Addr().(*net.TCPAddr).Port, dbUser)
			for {
				c, err := ln.Accept()
				if err != nil {
					if ctx.Err() != nil {
						return nil
					}
					return err
				}
				go forwardLocal(ctx, c, prof, cfg)
			}
		},
	}
	db.Flags().IntVar(&port, "port", 0, "local port (0 picks one)")
	db.Flags().StringVar(&bind, "bind", "127.0.0.1", "local loopback address")
	db.Flags().StringVar(&dbUser, "db-user", "", "database user")
	db.Flags().StringVar(&dbName, "db-name", "", "logical database (default: the database user's name)")
	cmd.AddCommand(db)
	return cmd
}

// forwardLocal answers a local client's SSLRequest with N, opens TLS to
// the first of the cluster's proxies that accepts a connection with the
// database certificate, and relays.
func forwardLocal(ctx context.Context, c net.Conn, prof *client.Profile, cfg *tls.Config) {
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	var head [8]byte
	if _, err := io.ReadFull(c, head[:]); err != nil {
		return
	}
	if binary.BigEndian.Uint32(head[:4]) == 8 && binary.BigEndian.Uint32(head[4:]) == sslRequestCode {
		if _, err := c.Write([]byte{'N'}); err != nil {
			return
		}
		if _, err := io.ReadFull(c, head[:]); err != nil {
			return
		}
	}
	up, err := dialPostgresTLS(ctx, prof, cfg)
	if err != nil {
		return
	}
	defer func() { _ = up.Close() }()
	if _, err := up.Write(head[:]); err != nil {
		return
	}
	_ = c.SetDeadline(time.Time{})
	sdk.Relay(c, up)
}

// dialPostgresTLS asks a proxy for TLS the way libpq does, verifying
// its certificate for the name of the proxy that answered.
func dialPostgresTLS(ctx context.Context, prof *client.Profile, base *tls.Config) (*tls.Conn, error) {
	raw, addr, err := prof.DialTCP(ctx)
	if err != nil {
		return nil, err
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		_ = raw.Close()
		return nil, fmt.Errorf("proxy address %q: %w", addr, err)
	}
	cfg := base.Clone()
	cfg.ServerName = host
	var req [8]byte
	binary.BigEndian.PutUint32(req[:4], 8)
	binary.BigEndian.PutUint32(req[4:], sslRequestCode)
	var answer [1]byte
	if _, err := raw.Write(req[:]); err != nil {
		_ = raw.Close()
		return nil, err
	}
	if _, err := io.ReadFull(raw, answer[:]); err != nil || answer[0] != 'S' {
		_ = raw.Close()
		return nil, errors.New("the proxy did not accept TLS")
	}
	tc := tls.Client(raw, cfg)
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		_ = raw.Close()
		return nil, err
	}
	return tc, nil
}

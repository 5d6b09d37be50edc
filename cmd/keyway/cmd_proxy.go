package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyway-dev/keyway/core/client"
	"github.com/keyway-dev/keyway/core/tunnel"
	"github.com/keyway-dev/keyway/sdk"
)

func newProxyCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "proxy", Short: "Run local proxies for clients that cannot present certificates"}
	var port int
	var dbUser, dbName, bind string
	db := &cobra.Command{
		Use:   "db --port=PORT NAME --db-user=USER",
		Short: "Serve a database on localhost for any client or GUI of its protocol",
		Long: `Listen on localhost and forward each connection to the database through
the cluster's proxy with your certificate for it, over keyway's own TLS,
for a database of any protocol. Clients connect without TLS and without
a password (for PostgreSQL: host=127.0.0.1 port=PORT sslmode=disable).
Only this machine can reach the port.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if ip := net.ParseIP(bind); bind != "localhost" && (ip == nil || !ip.IsLoopback()) {
				return fmt.Errorf("--bind=%s would let anyone who reaches this machine use your database login without a password; keyway proxy db serves loopback addresses only", bind)
			}
			prof, f, dc, err := dbLogin(cmd, args[0], dbUser, dbName)
			if err != nil {
				return err
			}
			var current atomic.Pointer[tls.Certificate]
			load := func() (time.Time, error) {
				c, err := tls.LoadX509KeyPair(f.cert(), f.key())
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
					if _, _, _, err := dbLogin(cmd, args[0], dbUser, dbName); err != nil {
						fmt.Fprintf(cmd.ErrOrStderr(), "renewing the certificate for %s: %v\n", args[0], err)
						continue
					}
					if notAfter, err = load(); err != nil {
						fmt.Fprintf(cmd.ErrOrStderr(), "loading the renewed certificate: %v\n", err)
					}
				}
			}()
			local, err := clientSpec(dc).Render(localSettings(args[0], bind, fmt.Sprint(ln.Addr().(*net.TCPAddr).Port), dbUser, dbName))
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "serving %s on %s as database user %s; connect with:\n  %s\n", args[0], ln.Addr(), dbUser, commandLine(local))
			for {
				c, err := ln.Accept()
				if err != nil {
					if ctx.Err() != nil {
						return nil
					}
					return err
				}
				go forwardLocal(ctx, c, prof, current.Load, cmd.ErrOrStderr())
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

// forwardLocal opens keyway's own TLS (ALPN keyway-db) to the first of
// the cluster's proxies that accepts a connection, presenting the
// database certificate, waits for the proxy to admit the session, and
// relays. The local client's bytes pass unread: whatever its protocol
// asks first, the database's plugin answers at the other end.
func forwardLocal(ctx context.Context, c net.Conn, prof *client.Profile, cert func() *tls.Certificate, errs io.Writer) {
	defer func() { _ = c.Close() }()
	up, _, err := prof.DialTLS(ctx, cert(), tunnel.ALPNDB)
	if err != nil {
		fmt.Fprintf(errs, "reaching the proxy: %v\n", err)
		return
	}
	defer func() { _ = up.Close() }()
	_ = up.SetReadDeadline(time.Now().Add(30 * time.Second))
	if err := tunnel.ReadAdmission(up); err != nil {
		fmt.Fprintln(errs, err)
		return
	}
	_ = up.SetReadDeadline(time.Time{})
	sdk.Relay(c, up)
}

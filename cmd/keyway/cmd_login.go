package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyway-dev/keyway/core/agent"
	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/authority"
	"github.com/keyway-dev/keyway/core/client"
	"github.com/keyway-dev/keyway/core/tunnel"
)

func newLoginCmd() *cobra.Command {
	var proxyAddr, user, pin, inviteFile string
	var passwordStdin bool
	cmd := &cobra.Command{
		Use:   "login --proxy=HOST:PORT --user=NAME",
		Short: "Log in to a cluster and keep a short-lived certificate under ~/.keyway",
		Long: `Log in through the cluster's proxy. The proxy is trusted only if its
host authority matches --ca-pin (keyway status on the auth host prints it);
at a terminal without --ca-pin you are shown the pin and asked to confirm.

The password is asked for at the terminal, or read from stdin with
--password-stdin. At the first login, redeem the invite that keyway users
add printed: pass --invite-file (a 0600 file), or at the terminal leave
the password empty and you are asked for the invite; then the password
you choose becomes yours. Every failed login gets the same answer, so
that nobody learns from it which accounts exist.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if proxyAddr == "" || user == "" {
				return fmt.Errorf("--proxy and --user are required")
			}
			host, _, err := net.SplitHostPort(proxyAddr)
			if err != nil {
				return fmt.Errorf("--proxy=%q is not HOST:PORT", proxyAddr)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Minute)
			defer cancel()
			p := newPrompter(cmd.InOrStdin(), cmd.ErrOrStderr())
			if !p.stdinT && !passwordStdin {
				return fmt.Errorf("stdin is not a terminal: pass --password-stdin to read the password from it")
			}
			hostCAs, err := trustProxy(ctx, cmd, p, proxyAddr, host, pin)
			if err != nil {
				return err
			}
			tlsCfg, err := authority.TLSWithCAs(hostCAs, host, tunnel.ALPNAPI)
			if err != nil {
				return err
			}
			conn, err := agent.DialAPI(ctx, proxyAddr, tlsCfg)
			if err != nil {
				return err
			}
			defer func() { _ = conn.Close() }()
			key, err := authority.NewKey("")
			if err != nil {
				return err
			}
			csr, err := authority.NewCSR(key, user)
			if err != nil {
				return err
			}
			req := &apiv1.LoginRequest{User: user, Csr: csr}
			if inviteFile != "" {
				if req.Invite, err = readSecretFile(inviteFile); err != nil {
					return err
				}
			} else if req.Password, err = p.secret(fmt.Sprintf("password for %s (empty at your first login, to redeem your invite): ", user)); err != nil {
				return err
			}
			// The cluster answers every failed login alike, so whether
			// this is a first login is for the user to say: with an
			// invite file, or an empty password at the terminal.
			if req.Invite == "" && req.Password == "" && p.stdinT {
				if req.Invite, err = p.secret("invite: "); err != nil {
					return err
				}
			}
			if req.Invite != "" {
				if req.NewPassword, err = choosePassword(p); err != nil {
					return err
				}
			}
			resp, err := apiv1.NewAuthClient(conn).Login(ctx, req)
			if err != nil {
				msg := status.Convert(err).Message()
				if status.Code(err) == codes.Unauthenticated && req.Invite == "" {
					msg += " (at your first login, redeem your invite with --invite-file, or with an empty password at the terminal)"
				}
				return errors.New(msg)
			}
			home, err := client.Home()
			if err != nil {
				return err
			}
			keyPEM, err := authority.KeyPEM(key)
			if err != nil {
				return err
			}
			prof := &client.Profile{Dir: home, Proxy: proxyAddr, Proxies: resp.GetProxyAddrs(), User: user, Cluster: resp.GetClusterName(), HostCAs: resp.GetHostCas(), DBCAs: resp.GetDbCas()}
			if err := prof.Save(resp.GetCertificate(), keyPEM); err != nil {
				return err
			}
			cert, err := prof.Certificate()
			if err != nil {
				return err
			}
			return printStatus(cmd, prof, cert)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&proxyAddr, "proxy", "", "the cluster's proxy, HOST:PORT")
	fl.StringVar(&user, "user", "", "your user name")
	fl.StringVar(&pin, "ca-pin", "", "expected pin of the cluster's host authority (sha256:HEX)")
	fl.BoolVar(&passwordStdin, "password-stdin", false, "read the password (or, with --invite-file, the new password) from stdin")
	fl.StringVar(&inviteFile, "invite-file", "", "first login: a 0600 file holding the invite from keyway users add")
	return cmd
}

// choosePassword asks for a new password twice at a terminal, once from
// stdin.
func choosePassword(p *prompter) (string, error) {
	pw, err := p.secret("new password: ")
	if err != nil {
		return "", err
	}
	if p.stdinT {
		again, err := p.secret("repeat the new password: ")
		if err != nil {
			return "", err
		}
		if again != pw {
			return "", errors.New("the passwords differ")
		}
	}
	return pw, nil
}

// trustProxy fetches the cluster's host authority and checks it against
// the pin, or asks the person at the terminal to confirm it.
func trustProxy(ctx context.Context, cmd *cobra.Command, p *prompter, addr, host, pin string) ([][]byte, error) {
	var cfg *tls.Config
	if pin != "" {
		cfg = authority.PinnedTLS(pin, host, tunnel.ALPNAPI)
	} else {
		if !p.stdinT {
			return nil, errors.New("pass --ca-pin=sha256:... (keyway status on the auth host prints it) to trust the proxy without a terminal")
		}
		// Shown to the person before anything else is sent.
		cfg = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host, NextProtos: []string{tunnel.ALPNAPI}, InsecureSkipVerify: true}
	}
	conn, err := agent.DialAPI(ctx, addr, cfg)
	if err != nil {
		return nil, err
	}
	defer func() { _ = conn.Close() }()
	resp, err := apiv1.NewAuthClient(conn).Ping(ctx, &apiv1.PingRequest{})
	if err != nil {
		return nil, fmt.Errorf("reaching the proxy at %s: %s", addr, status.Convert(err).Message())
	}
	if pin == "" {
		var pins []string
		for _, der := range resp.GetHostCas() {
			pp, _ := authority.Pin(der)
			pins = append(pins, pp)
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "The proxy at %s serves cluster %q with host authority %s.\n", addr, resp.GetClusterName(), strings.Join(pins, ", "))
		answer, err := p.ask("Trust it? Compare with keyway status on the auth host [y/N]: ")
		if err != nil {
			return nil, err
		}
		if !strings.EqualFold(strings.TrimSpace(answer), "y") {
			return nil, errors.New("not trusted; nothing was sent")
		}
	}
	return resp.GetHostCas(), nil
}

func newLogoutCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "Forget your login and database certificates",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			prof, err := client.Current()
			if err != nil {
				return err
			}
			if err := prof.Remove(); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "logged out %s from %s\n", prof.User, prof.Proxy)
			return err
		},
	}
}

package pgsink

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"

	"github.com/jackc/pgx/v5"
)

// connConfig builds the connection settings from o: the URL, with the
// certificate files as its ssl parameters, verify-full unless it says
// otherwise, and the password from its file. It refuses secrets written
// in the URL and secret files that others can read.
func connConfig(o Options) (*pgx.ConnConfig, error) {
	u, err := url.Parse(o.URL)
	if err != nil {
		return nil, fmt.Errorf("audit postgres: url: %w", err)
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return nil, errors.New("audit postgres: url must be a postgres:// URL")
	}
	if _, has := u.User.Password(); has {
		return nil, errors.New("audit postgres: the url carries a password; put it in password_file")
	}
	q := u.Query()
	for _, p := range []string{"password", "sslpassword", "sslkey", "sslcert", "sslrootcert"} {
		if q.Has(p) {
			return nil, fmt.Errorf("audit postgres: the url sets %s; use the block's file attributes instead", p)
		}
	}
	if !q.Has("sslmode") {
		q.Set("sslmode", "verify-full")
	}
	if o.CACertFile != "" {
		if _, err := os.Stat(o.CACertFile); err != nil {
			return nil, fmt.Errorf("audit postgres: ca_cert_file: %w", err)
		}
		q.Set("sslrootcert", o.CACertFile)
	}
	if o.CertFile != "" {
		if err := checkSecretFile(o.KeyFile, "key_file"); err != nil {
			return nil, err
		}
		if _, err := os.Stat(o.CertFile); err != nil {
			return nil, fmt.Errorf("audit postgres: cert_file: %w", err)
		}
		q.Set("sslcert", o.CertFile)
		q.Set("sslkey", o.KeyFile)
	}
	u.RawQuery = q.Encode()
	cfg, err := pgx.ParseConfig(u.String())
	if err != nil {
		return nil, fmt.Errorf("audit postgres: %w", err)
	}
	if o.PasswordFile != "" {
		pw, err := readPassword(o.PasswordFile)
		if err != nil {
			return nil, err
		}
		cfg.Password = pw
	}
	cfg.ConnectTimeout = o.ConnectTimeout
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = "keyway-audit"
	}
	return cfg, nil
}

// checkSecretFile refuses a file that group or others may access.
func checkSecretFile(path, attr string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("audit postgres: %s: %w", attr, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("audit postgres: %s %s has mode %04o; it holds a secret, so make it 0600 or stricter", attr, path, st.Mode().Perm())
	}
	return nil
}

// readPassword returns the first line of a secret file.
func readPassword(path string) (string, error) {
	if err := checkSecretFile(path, "password_file"); err != nil {
		return "", err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("audit postgres: password_file: %w", err)
	}
	line, _, _ := bufio.NewReader(bytes.NewReader(b)).ReadLine()
	if len(line) == 0 {
		return "", fmt.Errorf("audit postgres: password_file %s is empty", path)
	}
	return string(line), nil
}

// connect opens one connection with the prepared settings.
func connect(ctx context.Context, cfg *pgx.ConnConfig) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, cfg.Copy())
	if err != nil {
		return nil, fmt.Errorf("audit postgres: connecting: %w", err)
	}
	return conn, nil
}

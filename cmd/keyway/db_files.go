package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keyway-dev/keyway/core/client"
	"github.com/keyway-dev/keyway/sdk/identity"
)

// dbFiles are one database login's files: a certificate routed to the
// database as one database user, its key, and the proxy's authority.
// Each database user of a database has its own, so that clients set up
// from one login keep working after a login as another.
type dbFiles struct{ prefix string }

func (f dbFiles) cert() string { return f.prefix + ".crt" }
func (f dbFiles) key() string  { return f.prefix + ".key" }
func (f dbFiles) cas() string  { return f.prefix + ".cas" }

// dbSession is userSession for commands that read or write database
// logins: a profile from an identity file has no directory of its own, so
// its logins go under keyway's home.
func dbSession(cmd *cobra.Command) (*client.Profile, tls.Certificate, error) {
	return withHome(userSession(cmd))
}

// withHome gives a session from an identity file the home directory of
// keyway login, where database logins are kept.
func withHome(prof *client.Profile, cert tls.Certificate, err error) (*client.Profile, tls.Certificate, error) {
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	if prof.Dir == "" {
		if prof.Dir, err = client.Home(); err != nil {
			return nil, tls.Certificate{}, err
		}
	}
	return prof, cert, nil
}

// dbDir holds the logins to one database, or with name empty to all.
func dbDir(prof *client.Profile, name string) string {
	return filepath.Join(prof.Dir, "db", prof.User, name)
}

// dbFilesFor are the files of a login to database name as dbUser.
func dbFilesFor(prof *client.Profile, name, dbUser string) (dbFiles, error) {
	if dbUser == "" || strings.ContainsAny(dbUser, `/\`) || strings.HasPrefix(dbUser, ".") {
		return dbFiles{}, fmt.Errorf("database user %q cannot name a login's files: it is empty, starts with a dot or holds a slash", dbUser)
	}
	return dbFiles{prefix: filepath.Join(dbDir(prof, name), dbUser)}, nil
}

// dbLogins lists the database users you logged in to database name as.
func dbLogins(prof *client.Profile, name string) []string {
	certs, _ := filepath.Glob(filepath.Join(dbDir(prof, name), "*.crt"))
	users := make([]string, 0, len(certs))
	for _, c := range certs {
		users = append(users, strings.TrimSuffix(filepath.Base(c), ".crt"))
	}
	slices.Sort(users)
	return users
}

// loggedIn finds the login to database name as dbUser, or, with dbUser
// empty, the only login to it.
func loggedIn(prof *client.Profile, name, dbUser string) (dbFiles, error) {
	if dbUser == "" {
		users := dbLogins(prof, name)
		switch len(users) {
		case 0:
			return dbFiles{}, fmt.Errorf("you have not logged in to %s: run keyway db login %s --db-user=USER, or pass --db-user", name, name)
		case 1:
			dbUser = users[0]
		default:
			return dbFiles{}, fmt.Errorf("you logged in to %s as several database users (%s): pick one with --db-user", name, strings.Join(users, ", "))
		}
	}
	f, err := dbFilesFor(prof, name, dbUser)
	if err != nil {
		return dbFiles{}, err
	}
	if _, err := os.Stat(f.cert()); err != nil {
		return dbFiles{}, fmt.Errorf("you have not logged in to %s as database user %s: run keyway db login %s --db-user=%s", name, dbUser, name, dbUser)
	}
	return f, nil
}

// route reads the database user and name a login's certificate is for.
func (f dbFiles) route() (identity.Route, error) {
	b, err := os.ReadFile(f.cert())
	if err != nil {
		return identity.Route{}, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return identity.Route{}, fmt.Errorf("%s holds no certificate", f.cert())
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return identity.Route{}, fmt.Errorf("reading %s: %w", f.cert(), err)
	}
	id, err := identity.FromCertificate(leaf)
	if err != nil {
		return identity.Route{}, fmt.Errorf("reading %s: %w", f.cert(), err)
	}
	if id.Route == nil {
		return identity.Route{}, fmt.Errorf("%s is not routed to a database", f.cert())
	}
	return *id.Route, nil
}

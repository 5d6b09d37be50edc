package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestIdentityFileWorksForEveryClientCommand uses an identity file from
// keyway auth sign instead of a login: status shows its user, db login
// keeps the database's files in the home directory, and db logout
// removes them, the local commands without --proxy.
func TestIdentityFileWorksForEveryClientCommand(t *testing.T) {
	a := startAllInOne(t)
	id := a.path("alice.id")
	kwSign(t, "auth", "sign", "--user=alice", "--roles=access", "--db-users=*", "--db-names=*", "--out="+id, "-c", a.cfg)
	home := t.TempDir()

	out, err := kwAs(t, home, "", "-i", id, "status")
	if err != nil || !strings.Contains(out, "logged in as: alice") {
		t.Fatalf("status with -i: %v\n%s", err, out)
	}
	if out, err := kwAs(t, home, "", "-i", id, "--proxy", a.proxy, "db", "login", dbName, "--db-user=postgres"); err != nil {
		t.Fatalf("db login with -i: %v\n%s", err, out)
	}
	files, _ := filepath.Glob(filepath.Join(home, "db", "alice", dbName, "*"))
	if len(files) == 0 {
		t.Fatalf("db login with -i left no files under %s", home)
	}
	out, err = kwAs(t, home, "", "-i", id, "db", "logout", dbName)
	if err != nil || !strings.Contains(out, "removed") {
		t.Fatalf("db logout with -i: %v\n%s", err, out)
	}
	for _, f := range files {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Fatalf("%s is still there after db logout: %v", f, err)
		}
	}
}

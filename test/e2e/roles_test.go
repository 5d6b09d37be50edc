package e2e

import (
	"context"
	"os"
	"strings"
	"testing"
)

func TestRolesApplyWithoutARestart(t *testing.T) {
	a := startAllInOne(t)
	alice := a.userFiles(t, "alice", "--roles=access,contractors", "--db-users=*", "--db-names=*", "--route-db-user=postgres")
	connect := func() error {
		conn, err := a.pgxConnect(t, alice, "postgres", "postgres")
		if err == nil {
			_ = conn.Close(context.Background())
		}
		return err
	}
	if err := connect(); err != nil {
		t.Fatalf("before the role exists: %v", err)
	}

	roleFile := a.path("contractors.hcl")
	if err := os.WriteFile(roleFile, []byte("role \"contractors\" {\n  deny {\n    db_users = [\"postgres\"]\n  }\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := kw(t, "create", "-f", roleFile, "-c", a.cfg); !strings.Contains(out, "role contractors saved") {
		t.Fatalf("create said: %s", out)
	}
	if got := kw(t, "get", "roles", "contractors", "-c", a.cfg); !strings.Contains(got, `"db_users": [`) {
		t.Fatalf("get roles: %s", got)
	}
	err := connect()
	if err == nil {
		t.Fatal("the deny role did not apply")
	}
	if state, msg := sqlState(t, err); state != "28000" || !strings.Contains(msg, "contractors") {
		t.Fatalf("denial: %s %q", state, msg)
	}
	kw(t, "rm", "role/contractors", "-c", a.cfg)
	if err := connect(); err != nil {
		t.Fatalf("after removing the role: %v", err)
	}

	bad := a.path("bad.hcl")
	if err := os.WriteFile(bad, []byte("role \"x\" {\n  allow {\n    db_userz = [\"a\"]\n  }\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := kwFails(t, "create", "-f", bad, "-c", a.cfg); !strings.Contains(out, "bad.hcl:3:5: error: Unsupported argument") {
		t.Fatalf("a bad role file:\n%s", out)
	}
	if out := kwFails(t, "rm", "role/access", "-c", a.cfg); !strings.Contains(out, "built in") {
		t.Fatalf("removing a built-in role:\n%s", out)
	}
}

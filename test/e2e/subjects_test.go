package e2e

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/core/authority"
	"github.com/keyway-dev/keyway/sdk/identity"
)

// kwSign runs keyway auth sign. auth sign signs the stored user or bot
// and may only narrow its roles and traits, so for --user and --bot it
// first stores the record the flags describe (keyway users add, or
// users update when the user exists; keyway bots add, or rm and add).
func kwSign(t *testing.T, args ...string) string {
	t.Helper()
	var cfg, user, bot string
	var record []string
	for i, a := range args {
		switch {
		case a == "-c" && i+1 < len(args):
			cfg = args[i+1]
		case strings.HasPrefix(a, "--user="):
			user = strings.TrimPrefix(a, "--user=")
		case strings.HasPrefix(a, "--bot="):
			bot = strings.TrimPrefix(a, "--bot=")
		case strings.HasPrefix(a, "--roles="), strings.HasPrefix(a, "--db-users="), strings.HasPrefix(a, "--db-names="):
			record = append(record, a)
		}
	}
	store := func(args ...string) error {
		return exec.Command(built.keyway, args...).Run()
	}
	switch {
	case user != "":
		add := append([]string{"users", "add", user, "-c", cfg}, record...)
		if store(add...) != nil {
			kw(t, append([]string{"users", "update", user, "-c", cfg}, record...)...)
		}
	case bot != "":
		_ = store("bots", "rm", bot, "-c", cfg)
		kw(t, append([]string{"bots", "add", bot, "-c", cfg}, record...)...)
	}
	return kw(t, args...)
}

// TestAuthSignSignsTheStoredSubject signs identities from the stored
// users and bots: unknown names are refused, flags narrow but never
// widen, and a removed bot is signed no more.
func TestAuthSignSignsTheStoredSubject(t *testing.T) {
	c := newCluster(t, "auth {}\n")
	startNode(t, c.cfg, c.data)
	kw(t, "users", "add", "alice", "--roles=access", "--db-users=postgres,app", "--db-names=*", "-c", c.cfg)
	out := func(name string) string { return "--out=" + c.path(name) }

	refusals := []struct {
		args []string
		want string
	}{
		{[]string{"--user=ghost"}, "user ghost: no such user; keyway signs only stored users"},
		{[]string{"--user=alice", "--roles=admin"}, `the user alice does not hold the role "admin" (it holds: access)`},
		{[]string{"--user=alice", "--db-users=*"}, `the user alice does not hold the database user "*"`},
		{[]string{"--bot=ghost"}, "bot ghost: no such bot; keyway signs only stored bots"},
	}
	for _, r := range refusals {
		got := kwFails(t, append([]string{"auth", "sign", out("x.id"), "-c", c.cfg}, r.args...)...)
		if !strings.Contains(got, r.want) {
			t.Fatalf("auth sign %v said %q; want %q", r.args, got, r.want)
		}
	}

	identity := func(path string) identity.Identity {
		t.Helper()
		f, _, err := authority.ReadIdentityFile(path)
		if err != nil {
			t.Fatal(err)
		}
		id, err := f.Identity()
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	kw(t, "auth", "sign", "--user=alice", out("alice.id"), "-c", c.cfg)
	if id := identity(c.path("alice.id")); strings.Join(id.Roles, ",") != "access" || strings.Join(id.DBUsers, ",") != "postgres,app" || strings.Join(id.DBNames, ",") != "*" {
		t.Fatalf("alice signed from her record: %+v", id)
	}
	kw(t, "auth", "sign", "--user=alice", "--db-users=app", "--db-names=shop", out("narrow.id"), "-c", c.cfg)
	if id := identity(c.path("narrow.id")); strings.Join(id.DBUsers, ",") != "app" || strings.Join(id.DBNames, ",") != "shop" {
		t.Fatalf("alice narrowed: %+v", id)
	}

	kw(t, "bots", "add", "ci", "--roles=access", "--db-users=ci", "-c", c.cfg)
	if ls := kw(t, "bots", "ls", "-c", c.cfg); !strings.Contains(ls, "ci") || !strings.Contains(ls, "access") {
		t.Fatalf("bots ls:\n%s", ls)
	}
	kw(t, "auth", "sign", "--bot=ci", out("ci.id"), "-c", c.cfg)
	if id := identity(c.path("ci.id")); id.ID.String() != "spiffe://e2e/bot/ci" || strings.Join(id.Roles, ",") != "access" || strings.Join(id.DBUsers, ",") != "ci" {
		t.Fatalf("the bot ci signed: %+v", id)
	}
	kw(t, "bots", "rm", "ci", "-c", c.cfg)
	if got := kwFails(t, "auth", "sign", "--bot=ci", out("ci2.id"), "-c", c.cfg); !strings.Contains(got, "no such bot") {
		t.Fatalf("signing a removed bot: %s", got)
	}

	// A role's max_session_ttl caps what auth sign signs: a longer --ttl
	// is refused, and without --ttl the certificate lives the cap, also
	// when --roles leaves the capping role out.
	roleFile := c.path("short.hcl")
	if err := os.WriteFile(roleFile, []byte("role \"short\" {\n  allow {\n    db_labels = { \"*\" = [\"*\"] }\n    db_users  = [\"*\"]\n  }\n  options {\n    max_session_ttl = \"1h\"\n  }\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	kw(t, "create", "-f", roleFile, "-c", c.cfg)
	kw(t, "users", "add", "bob", "--roles=access,short", "-c", c.cfg)
	if got := kwFails(t, "auth", "sign", "--user=bob", "--ttl=2h", out("bob.id"), "-c", c.cfg); !strings.Contains(got, "--ttl=2h0m0s is longer than the max_session_ttl 1h0m0s of the role short") {
		t.Fatalf("a --ttl above max_session_ttl: %s", got)
	}
	for _, args := range [][]string{{"--user=bob"}, {"--user=bob", "--roles=access"}} {
		kw(t, append([]string{"auth", "sign", out("bob.id"), "-c", c.cfg}, args...)...)
		if left := time.Until(identity(c.path("bob.id")).NotAfter); left > time.Hour+time.Minute || left < 50*time.Minute {
			t.Fatalf("auth sign %v: the certificate lives %s more; want the role's 1h", args, left)
		}
	}
}

package rbacopa

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/keyway-dev/keyway/sdk"
)

// clusterRoles are the role definitions of the test cluster. Every request
// carries all of them, as the core does; which apply depends on the
// identity's roles and SPIFFE ID.
const clusterRoles = `[
  {"name": "access", "allow": {"db_labels": {"*": ["*"]},
     "db_users": ["{{internal.db_users}}"], "db_names": ["{{internal.db_names}}"]}},
  {"name": "editor", "allow": {"admin": true}},
  {"name": "developer", "allow": {"db_labels": {"env": ["dev", "stag*"]},
     "db_users": ["app_*", "readonly"], "db_names": ["*"]}},
  {"name": "analyst", "allow": {"db_labels": {"region": ["^eu-(west|central)-[0-9]+$"]},
     "db_users": ["analyst"], "db_names": ["warehouse", "reports_*"]}},
  {"name": "payments", "allow": {"db_labels": {"env": ["prod"], "team": ["payments"]},
     "db_users": ["payments"], "db_names": ["payments"]}},
  {"name": "sandbox", "allow": {"db_labels": {"*": ["sandbox"]}, "db_users": ["*"], "db_names": ["*"]}},
  {"name": "superuser", "allow": {"db_labels": {"*": ["*"]}, "db_users": ["*"], "db_names": ["*"], "admin": true}},
  {"name": "no-postgres", "deny": {"db_users": ["postgres"]}},
  {"name": "no-secrets", "deny": {"db_names": ["secrets*"]}},
  {"name": "no-prod", "deny": {"db_labels": {"env": ["prod"]}}},
  {"name": "contractors", "allow": {"db_labels": {"*": ["*"]}, "db_users": ["*"], "db_names": ["*"]},
     "deny": {"db_labels": {"env": ["prod"]}, "db_users": ["postgres"]}},
  {"name": "ci-bots", "spiffe_ids": ["spiffe://example/bot/*"],
     "allow": {"db_labels": {"env": ["dev"]}, "db_users": ["ci"], "db_names": ["ci_*"]}},
  {"name": "deployer", "spiffe_ids": ["spiffe://example/bot/deploy"],
     "allow": {"db_labels": {"*": ["*"]}, "db_users": ["migrator"], "db_names": ["*"]}},
  {"name": "nothing", "allow": {"db_labels": {"*": ["*"]}, "db_users": [], "db_names": []}},
  {"name": "empty-deny", "allow": {"db_labels": {"*": ["*"]}, "db_users": ["*"], "db_names": ["*"]},
     "deny": {"db_labels": {}, "db_users": [], "db_names": []}},
  {"name": "no-admin", "deny": {"admin": true}},
  {"name": "hide-finance", "deny": {"db_labels": {"team": ["finance"]}}},
  {"name": "blocked-by-trait", "deny": {"db_users": ["{{internal.blocked_users}}"]}},
  {"name": "literal", "allow": {"db_labels": {"env": ["dev"]}, "db_users": ["app_[ro]"], "db_names": ["*"]}}
]`

// database is the database of a request.
type database struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
}

// labelled is a database with labels given as name, value pairs.
func labelled(name string, pairs ...string) database {
	db := database{Name: name}
	if len(pairs) > 0 {
		db.Labels = make(map[string]string, len(pairs)/2)
		for i := 0; i+1 < len(pairs); i += 2 {
			db.Labels[pairs[i]] = pairs[i+1]
		}
	}
	return db
}

// The test databases.
func devDB() database     { return labelled("example-postgres", "env", "dev") }
func stagingDB() database { return labelled("staging-db", "env", "staging") }
func prodDB() database    { return labelled("prod-db", "env", "prod", "team", "payments") }
func euDB() database      { return labelled("eu-db", "region", "eu-west-1") }
func usDB() database      { return labelled("us-db", "region", "us-east-1") }
func ledgerDB() database  { return labelled("ledger", "env", "dev", "team", "finance") }
func bareDB() database    { return labelled("bare") }
func sandboxDB() database { return labelled("sb", "purpose", "sandbox") }

// request describes one Authorize call; zero fields take alice's defaults.
type request struct {
	action   string
	name     string
	spiffeID string
	kind     string
	roles    []string
	traits   map[string]any
	noTraits bool
	db       database
	dbUser   string
	dbName   string
	client   string
	time     string
}

// input builds the JSON input document of r.
func (r request) input(t testing.TB) []byte {
	t.Helper()
	if r.action == "" {
		r.action = "db.connect"
	}
	if r.name == "" && r.spiffeID == "" {
		r.name = "alice"
	}
	if r.spiffeID == "" {
		r.spiffeID = "spiffe://example/user/" + r.name
	}
	if r.kind == "" {
		r.kind = "user"
	}
	if r.traits == nil && !r.noTraits {
		r.traits = map[string]any{"db_users": []string{"postgres"}, "db_names": []string{"app"}}
	}
	if r.roles == nil {
		r.roles = []string{}
	}
	db := r.db
	if db.Name == "" {
		db = devDB()
	}
	if r.client == "" {
		r.client = "203.0.113.5:51234"
	}
	if r.time == "" {
		r.time = "2026-11-25T10:00:00Z"
	}
	identity := map[string]any{
		"spiffe_id": r.spiffeID, "kind": r.kind, "name": r.name, "roles": r.roles,
	}
	if r.traits != nil {
		identity["traits"] = r.traits
	}
	doc := map[string]any{
		"action":   r.action,
		"identity": identity,
		"roles":    json.RawMessage(clusterRoles),
		"database": map[string]any{"name": db.Name, "protocol": "postgres", "labels": db.Labels},
		"request":  map[string]any{"db_user": r.dbUser, "db_name": r.dbName},
		"client":   map[string]any{"addr": r.client},
		"time":     r.time,
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatalf("encoding the input: %v", err)
	}
	return b
}

// configured returns a plugin configured with the given policy files.
func configured(t testing.TB, policyFiles ...string) *Plugin {
	t.Helper()
	p := &Plugin{}
	if err := p.Configure(context.Background(), configRequest(t, policyFiles...)); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	return p
}

// configRequest is a ConfigureRequest naming policyFiles, or setting no
// attribute when there are none.
func configRequest(t testing.TB, policyFiles ...string) sdk.ConfigureRequest {
	t.Helper()
	if len(policyFiles) == 0 {
		return sdk.ConfigureRequest{Config: []byte(`{}`)}
	}
	b, err := json.Marshal(config{PolicyFiles: policyFiles})
	if err != nil {
		t.Fatal(err)
	}
	return sdk.ConfigureRequest{Config: b}
}

// writePolicy writes a Rego file into a temporary directory and returns
// its path.
func writePolicy(t testing.TB, name, src string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// decide runs Authorize and fails the test on an error.
func decide(t testing.TB, p *Plugin, r request) sdk.Decision {
	t.Helper()
	action := r.action
	if action == "" {
		action = "db.connect"
	}
	d, err := p.Authorize(context.Background(), action, r.input(t))
	if err != nil {
		t.Fatalf("Authorize: %v", err)
	}
	return d
}

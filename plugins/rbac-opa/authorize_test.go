package rbacopa

import (
	"context"
	"testing"
)

func TestAuthorizeMatrix(t *testing.T) {
	p := configured(t)
	bot := func(name string) string { return "spiffe://example/bot/" + name }
	both := map[string]any{"db_users": []string{"postgres"}, "db_names": []string{"app", "postgres"}}

	tests := []struct {
		name  string
		req   request
		allow bool
	}{
		// Traits templating with the built-in access role.
		{"access: trait user and trait database", request{roles: []string{"access"}, dbUser: "postgres", dbName: "app"}, true},
		{"access: empty db_name becomes db_user, not in traits", request{roles: []string{"access"}, dbUser: "postgres"}, false},
		{"access: empty db_name becomes db_user, in traits", request{roles: []string{"access"}, traits: both, dbUser: "postgres"}, true},
		{"access: user outside traits", request{roles: []string{"access"}, dbUser: "bob", dbName: "app"}, false},
		{"access: database outside traits", request{roles: []string{"access"}, dbUser: "postgres", dbName: "other"}, false},
		{"access: *:* matches a database without labels", request{roles: []string{"access"}, db: bareDB(), dbUser: "postgres", dbName: "app"}, true},
		{"access: *:* matches production", request{roles: []string{"access"}, db: prodDB(), dbUser: "postgres", dbName: "app"}, true},
		{"access: no traits allows nothing", request{roles: []string{"access"}, noTraits: true, dbUser: "postgres", dbName: "app"}, false},
		{"access: a trait given as one string", request{roles: []string{"access"}, traits: map[string]any{"db_users": "postgres", "db_names": "app"}, dbUser: "postgres", dbName: "app"}, true},
		{"access: trait values are patterns", request{roles: []string{"access"}, traits: map[string]any{"db_users": []string{"app_*"}, "db_names": []string{"*"}}, dbUser: "app_rw", dbName: "orders"}, true},

		// Globs on users and label values.
		{"developer: app_* user on dev", request{roles: []string{"developer"}, dbUser: "app_rw", dbName: "orders"}, true},
		{"developer: stag* label on staging", request{roles: []string{"developer"}, db: stagingDB(), dbUser: "app_rw", dbName: "orders"}, true},
		{"developer: production label not listed", request{roles: []string{"developer"}, db: prodDB(), dbUser: "app_rw", dbName: "orders"}, false},
		{"developer: exact user readonly", request{roles: []string{"developer"}, dbUser: "readonly", dbName: "orders"}, true},
		{"developer: app does not match app_*", request{roles: []string{"developer"}, dbUser: "app", dbName: "orders"}, false},
		{"developer: globs are anchored", request{roles: []string{"developer"}, dbUser: "xapp_rw", dbName: "orders"}, false},
		{"developer: required label missing", request{roles: []string{"developer"}, db: bareDB(), dbUser: "app_rw", dbName: "orders"}, false},
		{"literal: glob metacharacters other than * are literal", request{roles: []string{"literal"}, dbUser: "app_[ro]", dbName: "x"}, true},
		{"literal: [ro] is no character class", request{roles: []string{"literal"}, dbUser: "app_r", dbName: "x"}, false},

		// Regular expressions on labels.
		{"analyst: regex label matches", request{roles: []string{"analyst"}, db: euDB(), dbUser: "analyst", dbName: "warehouse"}, true},
		{"analyst: regex label does not match", request{roles: []string{"analyst"}, db: usDB(), dbUser: "analyst", dbName: "warehouse"}, false},
		{"analyst: regex is anchored", request{roles: []string{"analyst"}, db: database{"eu-db", map[string]string{"region": "eu-west-1a"}}, dbUser: "analyst", dbName: "warehouse"}, false},
		{"analyst: glob database name", request{roles: []string{"analyst"}, db: euDB(), dbUser: "analyst", dbName: "reports_q3"}, true},
		{"analyst: database name not listed", request{roles: []string{"analyst"}, db: euDB(), dbUser: "analyst", dbName: "hr"}, false},
		{"analyst: regex label absent", request{roles: []string{"analyst"}, dbUser: "analyst", dbName: "warehouse"}, false},

		// Several labels must all match.
		{"payments: every label matches", request{roles: []string{"payments"}, db: prodDB(), dbUser: "payments", dbName: "payments"}, true},
		{"payments: one label differs", request{roles: []string{"payments"}, db: database{"p", map[string]string{"env": "prod", "team": "risk"}}, dbUser: "payments", dbName: "payments"}, false},
		{"payments: one label absent", request{roles: []string{"payments"}, db: database{"p", map[string]string{"env": "prod"}}, dbUser: "payments", dbName: "payments"}, false},

		// The label key "*".
		{"sandbox: any label with the value", request{roles: []string{"sandbox"}, db: sandboxDB(), dbUser: "anyone", dbName: "anything"}, true},
		{"sandbox: no label with the value", request{roles: []string{"sandbox"}, dbUser: "anyone", dbName: "anything"}, false},

		// Deny wins.
		{"superuser: * everywhere", request{roles: []string{"superuser"}, db: prodDB(), dbUser: "whoever", dbName: "whatever"}, true},
		{"deny on user only: denied user", request{roles: []string{"superuser", "no-postgres"}, dbUser: "postgres", dbName: "app"}, false},
		{"deny on user only: other user", request{roles: []string{"superuser", "no-postgres"}, dbUser: "app", dbName: "app"}, true},
		{"deny on name only: denied database", request{roles: []string{"superuser", "no-secrets"}, dbUser: "app", dbName: "secrets_2026"}, false},
		{"deny on name only: other database", request{roles: []string{"superuser", "no-secrets"}, dbUser: "app", dbName: "app"}, true},
		{"deny on name only: empty db_name defaults to the user", request{roles: []string{"superuser", "no-secrets"}, dbUser: "secrets_admin"}, false},
		{"deny on labels: denied database", request{roles: []string{"superuser", "no-prod"}, db: prodDB(), dbUser: "app", dbName: "app"}, false},
		{"deny on labels: other database", request{roles: []string{"superuser", "no-prod"}, dbUser: "app", dbName: "app"}, true},
		{"deny on labels and user: both match", request{roles: []string{"contractors"}, db: prodDB(), dbUser: "postgres", dbName: "app"}, false},
		{"deny on labels and user: labels differ", request{roles: []string{"contractors"}, dbUser: "postgres", dbName: "app"}, true},
		{"deny on labels and user: user differs", request{roles: []string{"contractors"}, db: prodDB(), dbUser: "app", dbName: "app"}, true},
		{"deny of another role beats an allow", request{roles: []string{"access", "no-prod"}, db: prodDB(), dbUser: "postgres", dbName: "app"}, false},
		{"deny from a trait template", request{roles: []string{"superuser", "blocked-by-trait"}, traits: map[string]any{"blocked_users": []string{"postgres"}}, dbUser: "postgres", dbName: "app"}, false},
		{"deny from an absent trait matches nothing", request{roles: []string{"superuser", "blocked-by-trait"}, dbUser: "postgres", dbName: "app"}, true},

		// Empty lists.
		{"allow with empty db_users and db_names allows none", request{roles: []string{"nothing"}, dbUser: "postgres", dbName: "app"}, false},
		{"deny with no dimension matches nothing", request{roles: []string{"empty-deny"}, dbUser: "postgres", dbName: "app"}, true},
		{"no roles at all", request{dbUser: "postgres", dbName: "app"}, false},
		{"unknown role name", request{roles: []string{"ghost"}, dbUser: "postgres", dbName: "app"}, false},

		// Several roles: the union of their allows.
		{"union: developer's allow", request{roles: []string{"developer", "analyst"}, dbUser: "app_rw", dbName: "orders"}, true},
		{"union: analyst's allow", request{roles: []string{"developer", "analyst"}, db: euDB(), dbUser: "analyst", dbName: "warehouse"}, true},
		{"union: no role allows the mix", request{roles: []string{"developer", "analyst"}, dbUser: "analyst", dbName: "warehouse"}, false},
		{"union: access reaches where developer does not", request{roles: []string{"access", "developer"}, db: prodDB(), dbUser: "postgres", dbName: "app"}, true},

		// Roles by SPIFFE ID pattern.
		{"bot: pattern role applies", request{spiffeID: bot("ci-runner"), name: "ci-runner", kind: "bot", dbUser: "ci", dbName: "ci_main"}, true},
		{"bot: pattern role's labels", request{spiffeID: bot("ci-runner"), name: "ci-runner", kind: "bot", db: prodDB(), dbUser: "ci", dbName: "ci_main"}, false},
		{"bot: * stays within one segment", request{spiffeID: bot("team/ci"), name: "ci", kind: "bot", dbUser: "ci", dbName: "ci_main"}, false},
		{"bot: pattern does not match users", request{spiffeID: "spiffe://example/user/ci", name: "ci", dbUser: "ci", dbName: "ci_main"}, false},
		{"bot: exact SPIFFE ID role", request{spiffeID: bot("deploy"), name: "deploy", kind: "bot", db: prodDB(), dbUser: "migrator", dbName: "app"}, true},
		{"bot: exact and pattern roles combine", request{spiffeID: bot("deploy"), name: "deploy", kind: "bot", dbUser: "ci", dbName: "ci_main"}, true},
		{"bot: exact ID is no prefix", request{spiffeID: bot("deployer"), name: "deployer", kind: "bot", db: prodDB(), dbUser: "migrator", dbName: "app"}, false},
		{"bot: empty last segment", request{spiffeID: "spiffe://example/bot/", name: "x", kind: "bot", dbUser: "ci", dbName: "ci_main"}, false},
		{"bot: host in another trust domain", request{spiffeID: "spiffe://other/bot/ci", name: "ci", kind: "bot", dbUser: "ci", dbName: "ci_main"}, false},

		// Admin.
		{"admin: editor", request{action: "admin", roles: []string{"editor"}}, true},
		{"admin: access is no admin", request{action: "admin", roles: []string{"access"}}, false},
		{"admin: access and editor", request{action: "admin", roles: []string{"access", "editor"}}, true},
		{"admin: superuser", request{action: "admin", roles: []string{"superuser"}}, true},
		{"admin: deny admin wins", request{action: "admin", roles: []string{"editor", "no-admin"}}, false},
		{"admin: no roles", request{action: "admin"}, false},
		{"admin: database denies do not touch admin", request{action: "admin", roles: []string{"editor", "no-prod", "no-postgres"}}, true},

		// Listing databases.
		{"list: access sees an unlabelled database", request{action: "db.list", roles: []string{"access"}, db: bareDB()}, true},
		{"list: developer sees staging", request{action: "db.list", roles: []string{"developer"}, db: stagingDB()}, true},
		{"list: developer does not see production", request{action: "db.list", roles: []string{"developer"}, db: prodDB()}, false},
		{"list: a labels-only deny hides", request{action: "db.list", roles: []string{"access", "hide-finance"}, db: ledgerDB()}, false},
		{"list: a labels-only deny hides only what it matches", request{action: "db.list", roles: []string{"access", "hide-finance"}}, true},
		{"list: a deny on users does not hide", request{action: "db.list", roles: []string{"access", "no-postgres"}}, true},
		{"list: a deny on labels and users does not hide", request{action: "db.list", roles: []string{"contractors"}, db: prodDB()}, true},
		{"list: a labels deny hides from a superuser", request{action: "db.list", roles: []string{"superuser", "no-prod"}, db: prodDB()}, false},
		{"list: labels suffice, users do not matter", request{action: "db.list", roles: []string{"nothing"}}, true},
		{"list: editor sees no database", request{action: "db.list", roles: []string{"editor"}}, false},
		{"list: bot by pattern", request{action: "db.list", spiffeID: bot("ci-runner"), name: "ci-runner", kind: "bot"}, true},

		// Requests that cannot be allowed.
		{"unknown action", request{action: "db.drop", roles: []string{"superuser"}}, false},
		{"connect without a database user", request{roles: []string{"superuser"}, dbName: "app"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := decide(t, p, tt.req)
			if d.Allow != tt.allow {
				t.Fatalf("Allow = %v, want %v; reasons %+v", d.Allow, tt.allow, d.Reasons)
			}
			if len(d.Reasons) == 0 {
				t.Fatal("the decision carries no reason")
			}
			for _, r := range d.Reasons {
				want := "deny"
				if tt.allow {
					want = "allow"
				}
				if r.Effect != want || r.Message == "" {
					t.Errorf("reason %+v: want effect %s and a message", r, want)
				}
			}
		})
	}
}

// TestSparseInput checks that absent and null fields count as empty
// instead of failing the decision.
func TestSparseInput(t *testing.T) {
	p := configured(t)
	tests := []struct {
		name  string
		input string
		allow bool
	}{
		{"null everywhere", `{"action": "db.connect", "identity": {"name": "alice", "roles": ["r"], "spiffe_id": null, "traits": null},
			"roles": [{"name": "r", "spiffe_ids": null, "allow": null, "deny": null}],
			"database": {"name": "d", "labels": null}, "request": {"db_user": "app", "db_name": null}}`, false},
		{"null dimensions", `{"action": "db.connect", "identity": {"name": "alice", "roles": ["r"]},
			"roles": [{"name": "r", "allow": {"db_labels": {"*": ["*"]}, "db_users": ["*"], "db_names": ["*"]},
			           "deny": {"db_labels": null, "db_users": null, "db_names": null}}],
			"database": {"name": "d"}, "request": {"db_user": "app"}}`, true},
		{"no roles, no database", `{"action": "db.connect", "identity": {}, "request": {"db_user": "app"}}`, false},
		{"empty document", `{}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := p.Authorize(context.Background(), "db.connect", []byte(tt.input))
			if err != nil {
				t.Fatalf("Authorize: %v", err)
			}
			if d.Allow != tt.allow || len(d.Reasons) == 0 {
				t.Fatalf("decision %+v, want allow %v with reasons", d, tt.allow)
			}
		})
	}
}

package rbacopa

import (
	"context"
	"reflect"
	"testing"

	"github.com/keyway-dev/keyway/sdk"
)

// exampleInput is the input document of docs/authz.md.
const exampleInput = `{
  "action": "db.connect",
  "identity": {"spiffe_id": "spiffe://example/user/alice", "kind": "user", "name": "alice",
               "roles": ["access"], "traits": {"db_users": ["postgres"], "db_names": ["app"]}},
  "roles": [ {"name": "access",
              "spiffe_ids": ["spiffe://example/bot/*"],
              "allow": {"db_labels": {"env": ["dev", "stag*"]}, "db_users": ["{{internal.db_users}}"], "db_names": ["{{internal.db_names}}"], "admin": false},
              "deny":  {"db_labels": {"*": ["*"]}, "db_users": ["postgres"], "db_names": []} } ],
  "database": {"name": "example-postgres", "protocol": "postgres", "labels": {"env": "dev"}},
  "request": {"db_user": "postgres", "db_name": ""},
  "client": {"addr": "203.0.113.5:51234"},
  "time": "2026-11-25T10:00:00Z"
}`

func TestReasonOfTheDocumentedExample(t *testing.T) {
	p := configured(t)
	d, err := p.Authorize(context.Background(), "db.connect", []byte(exampleInput))
	if err != nil {
		t.Fatal(err)
	}
	want := sdk.Decision{Allow: false, Reasons: []sdk.Reason{{
		Effect: "deny", Role: "access", Rule: "deny",
		Message: "role access denies db user postgres on example-postgres",
	}}}
	if !reflect.DeepEqual(d, want) {
		t.Fatalf("decision\n got %+v\nwant %+v", d, want)
	}
}

func TestReasonTexts(t *testing.T) {
	p := configured(t)
	postgresToo := map[string]any{"db_users": []string{"postgres"}, "db_names": []string{"postgres"}}

	tests := []struct {
		name string
		req  request
		want sdk.Decision
	}{
		{
			name: "allowed by a role",
			req:  request{roles: []string{"access"}, traits: postgresToo, dbUser: "postgres"},
			want: sdk.Decision{Allow: true, Reasons: []sdk.Reason{{
				Effect: "allow", Role: "access", Rule: "allow",
				Message: "role access allows db user postgres on example-postgres",
			}}},
		},
		{
			name: "allowed by two roles, in role order",
			req:  request{roles: []string{"superuser", "access"}, dbUser: "postgres", dbName: "app"},
			want: sdk.Decision{Allow: true, Reasons: []sdk.Reason{
				{Effect: "allow", Role: "access", Rule: "allow", Message: "role access allows db user postgres with database app on example-postgres"},
				{Effect: "allow", Role: "superuser", Rule: "allow", Message: "role superuser allows db user postgres with database app on example-postgres"},
			}},
		},
		{
			name: "nothing allows",
			req:  request{roles: []string{"access"}, dbUser: "postgres"},
			want: sdk.Decision{Allow: false, Reasons: []sdk.Reason{{
				Effect: "deny", Rule: "default",
				Message: `no role of alice allows db user "postgres" on example-postgres (roles: access)`,
			}}},
		},
		{
			name: "nothing allows the named database",
			req:  request{roles: []string{"developer", "access"}, dbUser: "bob", dbName: "app"},
			want: sdk.Decision{Allow: false, Reasons: []sdk.Reason{{
				Effect: "deny", Rule: "default",
				Message: `no role of alice allows db user "bob" with database "app" on example-postgres (roles: access, developer)`,
			}}},
		},
		{
			name: "a role denies",
			req:  request{roles: []string{"contractors"}, db: prodDB(), dbUser: "postgres", dbName: "app"},
			want: sdk.Decision{Allow: false, Reasons: []sdk.Reason{{
				Effect: "deny", Role: "contractors", Rule: "deny",
				Message: "role contractors denies db user postgres with database app on prod-db",
			}}},
		},
		{
			name: "a bot without roles",
			req:  request{spiffeID: "spiffe://example/bot/x/y", name: "", kind: "bot", dbUser: "ci"},
			want: sdk.Decision{Allow: false, Reasons: []sdk.Reason{{
				Effect: "deny", Rule: "default",
				Message: `no role of spiffe://example/bot/x/y allows db user "ci" on example-postgres (roles: none)`,
			}}},
		},
		{
			name: "admin allowed",
			req:  request{action: "admin", roles: []string{"editor"}},
			want: sdk.Decision{Allow: true, Reasons: []sdk.Reason{{
				Effect: "allow", Role: "editor", Rule: "allow", Message: "role editor allows admin",
			}}},
		},
		{
			name: "admin not allowed",
			req:  request{action: "admin", roles: []string{"access"}},
			want: sdk.Decision{Allow: false, Reasons: []sdk.Reason{{
				Effect: "deny", Rule: "default", Message: "no role of alice allows admin (roles: access)",
			}}},
		},
		{
			name: "admin denied",
			req:  request{action: "admin", roles: []string{"editor", "no-admin"}},
			want: sdk.Decision{Allow: false, Reasons: []sdk.Reason{{
				Effect: "deny", Role: "no-admin", Rule: "deny", Message: "role no-admin denies admin",
			}}},
		},
		{
			name: "listing hidden",
			req:  request{action: "db.list", roles: []string{"access", "hide-finance"}, db: ledgerDB()},
			want: sdk.Decision{Allow: false, Reasons: []sdk.Reason{{
				Effect: "deny", Role: "hide-finance", Rule: "deny", Message: "role hide-finance denies listing ledger",
			}}},
		},
		{
			name: "listing allowed",
			req:  request{action: "db.list", roles: []string{"access"}},
			want: sdk.Decision{Allow: true, Reasons: []sdk.Reason{{
				Effect: "allow", Role: "access", Rule: "allow", Message: "role access allows listing example-postgres",
			}}},
		},
		{
			name: "unknown action",
			req:  request{action: "db.drop", roles: []string{"superuser"}},
			want: sdk.Decision{Allow: false, Reasons: []sdk.Reason{{
				Effect: "deny", Rule: "action", Message: `unknown action "db.drop"`,
			}}},
		},
		{
			name: "no database user",
			req:  request{roles: []string{"superuser"}, dbName: "app"},
			want: sdk.Decision{Allow: false, Reasons: []sdk.Reason{{
				Effect: "deny", Rule: "request", Message: "no database user was given",
			}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d := decide(t, p, tt.req); !reflect.DeepEqual(d, tt.want) {
				t.Fatalf("decision\n got %+v\nwant %+v", d, tt.want)
			}
		})
	}
}

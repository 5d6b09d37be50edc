package rbacopa

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/keyway-dev/keyway/sdk"
)

// officeHours refuses production outside 08:00-18:00 UTC.
const officeHours = `package keyway.custom

deny contains "production is open 08:00-18:00 UTC only" if {
	input.action == "db.connect"
	input.database.labels.env == "prod"
	[hour, _, _] := time.clock(time.parse_rfc3339_ns(input.time))
	not office_hour(hour)
}

office_hour(hour) if {
	hour >= 8
	hour < 18
}
`

// officeNetwork refuses clients outside 203.0.113.0/24, with a helper
// from another package of the operator's.
const officeNetwork = `package keyway.custom

import data.keyway.lib.client_host

deny contains sprintf("client %s is outside the office network", [client_host]) if {
	not net.cidr_contains("203.0.113.0/24", client_host)
}
`

const clientHostLib = `package keyway.lib

# client_host is input.client.addr without its port.
client_host := host if {
	parts := split(input.client.addr, ":")
	host := trim(concat(":", array.slice(parts, 0, count(parts) - 1)), "[]")
}
`

// frozen refuses every action on a database labelled frozen=true.
const frozen = `package keyway.custom

deny contains msg if {
	input.database.labels.frozen == "true"
	msg := sprintf("%s is frozen for maintenance", [input.database.name])
}
`

// elsewhere defines deny outside keyway.custom, which keyway ignores.
const elsewhere = `package keyway.other

deny contains "never shown" if true
`

// structured denies with a non-string value.
const structured = `package keyway.custom

deny contains {"code": 42} if input.database.labels.env == "staging"
`

// custom is the reasons of custom denials with the given messages.
func custom(msgs ...string) []sdk.Reason {
	var rs []sdk.Reason
	for _, m := range msgs {
		rs = append(rs, sdk.Reason{Effect: "deny", Rule: "custom", Message: m})
	}
	return rs
}

func TestCustomDenials(t *testing.T) {
	p := configured(t,
		writePolicy(t, "hours.rego", officeHours),
		writePolicy(t, "network.rego", officeNetwork),
		writePolicy(t, "lib.rego", clientHostLib),
		writePolicy(t, "frozen.rego", frozen),
		writePolicy(t, "elsewhere.rego", elsewhere),
		writePolicy(t, "structured.rego", structured),
	)
	frozenDev := database{"example-postgres", map[string]string{"env": "dev", "frozen": "true"}}
	super := []string{"superuser"}

	tests := []struct {
		name    string
		req     request
		allow   bool
		reasons []sdk.Reason // checked when set
	}{
		{name: "production in office hours", req: request{roles: super, db: prodDB(), dbUser: "app", dbName: "app", time: "2026-11-25T10:00:00Z"}, allow: true},
		{name: "production at night", req: request{roles: super, db: prodDB(), dbUser: "app", dbName: "app", time: "2026-11-25T22:30:00Z"}, reasons: custom("production is open 08:00-18:00 UTC only")},
		{name: "production at 18:00 sharp", req: request{roles: super, db: prodDB(), dbUser: "app", dbName: "app", time: "2026-11-25T18:00:00Z"}, reasons: custom("production is open 08:00-18:00 UTC only")},
		{name: "production in office hours in another zone", req: request{roles: super, db: prodDB(), dbUser: "app", dbName: "app", time: "2026-11-25T14:00:00+05:00"}, allow: true},
		{name: "production at dawn given in another zone", req: request{roles: super, db: prodDB(), dbUser: "app", dbName: "app", time: "2026-11-25T10:00:00+05:00"}, reasons: custom("production is open 08:00-18:00 UTC only")},
		{name: "development at night", req: request{roles: super, dbUser: "app", dbName: "app", time: "2026-11-25T22:30:00Z"}, allow: true},
		{name: "client outside the office", req: request{roles: super, dbUser: "app", dbName: "app", client: "198.51.100.7:40000"}, reasons: custom("client 198.51.100.7 is outside the office network")},
		{name: "IPv6 client outside the office", req: request{roles: super, dbUser: "app", dbName: "app", client: "[2001:db8::1]:40000"}, reasons: custom("client 2001:db8::1 is outside the office network")},
		{name: "frozen database", req: request{roles: super, db: frozenDev, dbUser: "app", dbName: "app"}, reasons: custom("example-postgres is frozen for maintenance")},
		{name: "frozen database hidden from listing", req: request{action: "db.list", roles: super, db: frozenDev}, reasons: custom("example-postgres is frozen for maintenance")},
		{name: "several custom denials, sorted", req: request{roles: super, db: frozenDev, dbUser: "app", dbName: "app", client: "198.51.100.7:1"},
			reasons: custom("client 198.51.100.7 is outside the office network", "example-postgres is frozen for maintenance")},
		{name: "custom and role denials together", req: request{roles: []string{"superuser", "no-postgres"}, db: frozenDev, dbUser: "postgres", dbName: "app"},
			reasons: append(custom("example-postgres is frozen for maintenance"), sdk.Reason{
				Effect: "deny", Role: "no-postgres", Rule: "deny",
				Message: "role no-postgres denies db user postgres with database app on example-postgres",
			})},
		{name: "custom denial when nothing allows", req: request{roles: []string{"access"}, db: frozenDev, dbUser: "bob", dbName: "app"}, reasons: custom("example-postgres is frozen for maintenance")},
		{name: "custom denial of admin", req: request{action: "admin", roles: []string{"editor"}, client: "198.51.100.7:1"}, reasons: custom("client 198.51.100.7 is outside the office network")},
		{name: "non-string message", req: request{roles: super, db: stagingDB(), dbUser: "app", dbName: "app"}, reasons: custom(`{"code": 42}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := decide(t, p, tt.req)
			if d.Allow != tt.allow {
				t.Fatalf("Allow = %v, want %v; reasons %+v", d.Allow, tt.allow, d.Reasons)
			}
			if tt.reasons != nil && !reflect.DeepEqual(d.Reasons, tt.reasons) {
				t.Fatalf("reasons\n got %+v\nwant %+v", d.Reasons, tt.reasons)
			}
		})
	}
}

// TestDocumentedModule compiles the example module of docs/authz.md and
// checks one of its denials, so that the documentation stays true.
func TestDocumentedModule(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "authz.md"))
	if err != nil {
		t.Fatal(err)
	}
	const fence = "```rego\n"
	start := strings.Index(string(doc), fence)
	if start < 0 {
		t.Fatal("docs/authz.md has no rego example")
	}
	src := string(doc[start+len(fence):])
	src = src[:strings.Index(src, "```")]
	p := configured(t, writePolicy(t, "documented.rego", src))
	d := decide(t, p, request{roles: []string{"superuser"}, db: prodDB(), dbUser: "app", time: "2026-11-25T07:59:59Z", client: "[2001:db8::1]:5432"})
	want := custom(
		"client 2001:db8::1 is outside the office network",
		"production is open 08:00-18:00 UTC only",
	)
	if d.Allow || !reflect.DeepEqual(d.Reasons, want) {
		t.Fatalf("decision %+v, want the reasons %+v", d, want)
	}
}

package rbacopa

import (
	"crypto/sha256"
	"fmt"
	"reflect"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/keyway-dev/keyway/sdk"
)

// TestRequestOnly checks which policies are found to decide by the
// request alone, and so have their decisions remembered.
func TestRequestOnly(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want bool
	}{
		{"the bundled policy alone", "", true},
		{"a field of the request", frozen, true},
		{"the request's time", officeHours, false},
		{"the client's address", `package keyway.lib
client_host := input.client.addr`, false},
		{"the input document whole", `package keyway.custom
deny contains "x" if { d := input; d.time == "" }`, false},
		{"a field named at evaluation time", `package keyway.custom
deny contains "x" if { some k; input[k] == "" }`, false},
		{"iterating over the input", `package keyway.custom
deny contains "x" if { some k, _ in input; k == "" }`, false},
		{"the clock", `package keyway.custom
deny contains "x" if time.now_ns() > 0`, false},
		{"the network", `package keyway.custom
deny contains "x" if http.send({"method": "GET", "url": "http://127.0.0.1:1"}).status_code == 200`, false},
		{"certificate validity", `package keyway.custom
deny contains "x" if not crypto.x509.parse_and_verify_certificates(input.database.name)[0]`, false},
		{"the time inside another reference", `package keyway.custom
deny contains "x" if { {"2026": true}[substring(input.time, 0, 4)] }`, false},
		{"a pure built-in", `package keyway.custom
deny contains "x" if { [h, _, _] := time.clock(time.parse_rfc3339_ns("2026-01-01T00:00:00Z")); h > 30 }`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var files []string
			if tt.src != "" {
				files = append(files, writePolicy(t, "custom.rego", tt.src))
			}
			p := configured(t, files...)
			if got := p.engine.Load().memo != nil; got != tt.want {
				t.Fatalf("decisions remembered = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestRememberedDecisionsAreTheEvaluatedOnes asks the bundled policy the
// same requests twice, and with another time and client address, and
// compares every answer with the policy evaluated afresh.
func TestRememberedDecisionsAreTheEvaluatedOnes(t *testing.T) {
	p := configured(t)
	fresh := configured(t)
	fresh.engine.Load().memo = nil
	requests := []request{
		{roles: []string{"access"}, dbUser: "postgres", dbName: "app"},
		{roles: []string{"access"}, dbUser: "postgres", dbName: "other"},
		{roles: []string{"access"}, dbUser: "bob", dbName: "app"},
		{roles: []string{"developer"}, db: prodDB(), dbUser: "app_rw", dbName: "orders"},
		{roles: []string{"developer"}, db: stagingDB(), dbUser: "app_rw", dbName: "orders"},
		{roles: []string{"contractors"}, db: prodDB(), dbUser: "postgres"},
		{name: "bob", roles: []string{"access"}, dbUser: "postgres", dbName: "app"},
		{action: "db.list", roles: []string{"developer"}, db: prodDB()},
		{action: "admin", roles: []string{"superuser"}},
	}
	for round := range 3 {
		for i, r := range requests {
			if round == 2 {
				r.time, r.client = "2026-12-31T23:59:59Z", fmt.Sprintf("198.51.100.%d:4000", i)
			}
			got, want := decide(t, p, r), decide(t, fresh, r)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("round %d, request %d: remembered %+v, evaluated %+v", round, i, got, want)
			}
		}
	}
	if n := len(p.engine.Load().memo.decisions); n != len(requests) {
		t.Fatalf("%d decisions remembered for %d requests", n, len(requests))
	}
}

// TestRememberedDecisionsAreCopies checks that a caller changing a
// decision's reasons does not change what is remembered.
func TestRememberedDecisionsAreCopies(t *testing.T) {
	p := configured(t)
	r := request{roles: []string{"access"}, dbUser: "postgres", dbName: "app"}
	first := decide(t, p, r)
	first.Reasons[0].Message = "changed"
	if again := decide(t, p, r); again.Reasons[0].Message == "changed" {
		t.Fatal("the remembered decision shares its reasons with the caller")
	}
}

// TestMemoIsBounded fills the memo past its size.
func TestMemoIsBounded(t *testing.T) {
	m := newMemo()
	key := func(i int) memoKey { return sha256.Sum256([]byte(fmt.Sprint(i))) }
	for i := range memoSize + 10 {
		m.put(key(i), sdk.Decision{Allow: true})
	}
	if n := len(m.decisions); n > memoSize {
		t.Fatalf("%d decisions remembered, bound %d", n, memoSize)
	}
	if _, ok := m.get(key(memoSize + 9)); !ok {
		t.Fatal("the latest decision is not remembered")
	}
}

// TestMemoKeyLeavesOutTheConnection checks the key ignores time and
// client, and nothing else.
func TestMemoKeyLeavesOutTheConnection(t *testing.T) {
	key := func(r request) memoKey {
		doc, err := parseInput("db.connect", r.input(t))
		if err != nil {
			t.Fatal(err)
		}
		return keyOf(doc)
	}
	base := request{roles: []string{"access"}, dbUser: "postgres", dbName: "app"}
	other := base
	other.time, other.client = "2030-01-01T00:00:00Z", "192.0.2.1:1"
	if key(base) != key(other) {
		t.Fatal("time and client change the key")
	}
	for _, changed := range []request{
		{roles: []string{"access"}, dbUser: "postgres", dbName: "app2"},
		{roles: []string{"access"}, dbUser: "postgre", dbName: "sapp"},
		{roles: []string{"access", "x"}, dbUser: "postgres", dbName: "app"},
		{roles: []string{"access"}, db: prodDB(), dbUser: "postgres", dbName: "app"},
	} {
		if key(changed) == key(base) {
			t.Fatalf("request %+v has the key of %+v", changed, base)
		}
	}
	if !ast.InputRootDocument.Equal(ast.VarTerm("input")) {
		t.Fatal("OPA's input document is no longer the variable input")
	}
}

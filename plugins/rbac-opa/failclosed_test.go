package rbacopa

import (
	"context"
	"strings"
	"testing"

	"github.com/keyway-dev/keyway/sdk"
)

func TestFailClosed(t *testing.T) {
	conflict := writePolicy(t, "conflict.rego", `package keyway.custom

level := 1 if input.action
level := 2 if input.action

deny contains "never" if level == 3
`)
	divide := writePolicy(t, "divide.rego", `package keyway.custom

deny contains sprintf("%v", [1 / count(input.identity.roles)]) if input.client.addr == "div"
`)

	valid := request{roles: []string{"superuser"}, dbUser: "app"}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()

	tests := []struct {
		name   string
		plugin *Plugin
		ctx    context.Context
		action string
		input  []byte
		want   string // in the reason and the error
	}{
		{name: "no policy compiled", plugin: &Plugin{}, action: "db.connect", input: valid.input(t), want: "no authorisation policy is compiled"},
		{name: "input is no JSON", plugin: configured(t), action: "db.connect", input: []byte(`{"action":`), want: "reading the input document"},
		{name: "input is no object", plugin: configured(t), action: "db.connect", input: []byte(`["db.connect"]`), want: "not an object"},
		{name: "input names another action", plugin: configured(t), action: "admin", input: valid.input(t), want: `not the requested action "admin"`},
		{name: "conflicting custom rule", plugin: configured(t, conflict), action: "db.connect", input: valid.input(t), want: "eval_conflict_error"},
		{name: "builtin error in a custom rule", plugin: configured(t, divide), action: "db.connect",
			input: request{dbUser: "app", client: "div"}.input(t), want: "divide by zero"},
		{name: "invalid regular expression in a role", plugin: configured(t), action: "db.connect",
			input: []byte(`{"action": "db.connect", "identity": {"name": "alice", "roles": ["r"]},
				"roles": [{"name": "r", "allow": {"db_labels": {"env": ["^([$"]}, "db_users": ["*"], "db_names": ["*"]}}],
				"database": {"name": "d", "labels": {"env": "dev"}}, "request": {"db_user": "app"}}`),
			want: "regex.match"},
		{name: "canceled context", plugin: configured(t), ctx: canceled, action: "db.connect", input: valid.input(t), want: "cancel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := tt.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			d, err := tt.plugin.Authorize(ctx, tt.action, tt.input)
			if err == nil {
				t.Fatalf("no error; decision %+v", d)
			}
			if d.Allow {
				t.Fatal("allowed on an evaluation error")
			}
			if len(d.Reasons) != 1 {
				t.Fatalf("reasons = %+v, want one", d.Reasons)
			}
			r := d.Reasons[0]
			if r.Effect != "deny" || !strings.HasPrefix(r.Message, "authorisation failed: ") {
				t.Errorf("reason = %+v", r)
			}
			if !strings.Contains(r.Message, tt.want) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("reason %q and error %q should both contain %q", r.Message, err, tt.want)
			}
		})
	}
}

func TestFailClosedKeepsTheDecisionType(t *testing.T) {
	d, err := failClosed(errNoPolicy)
	want := sdk.Reason{Effect: "deny", Rule: "error", Message: "authorisation failed: no authorisation policy is compiled"}
	if err == nil || d.Allow || len(d.Reasons) != 1 || d.Reasons[0] != want {
		t.Fatalf("failClosed = %+v, %v", d, err)
	}
}

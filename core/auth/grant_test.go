package auth

import (
	"strings"
	"testing"

	"github.com/keyway-dev/keyway/core/access"
	"github.com/keyway-dev/keyway/core/config"
)

// TestGrantCheck walks a grant over names, stored resources and claimed
// labels: only names and stored labels count.
func TestGrantCheck(t *testing.T) {
	prod := &config.Database{Name: "orders", Labels: map[string]string{"env": "prod"}}
	dev := &config.Database{Name: "orders", Labels: map[string]string{"env": "dev"}}
	byLabel := DBGrant{Labels: access.LabelSelector{"env": {"prod"}}}
	tests := []struct {
		name    string
		grant   DBGrant
		db      string
		stored  *config.Database
		wantErr string
	}{
		{"named", DBGrant{Names: []string{"a", "b"}}, "b", nil, ""},
		{"not named", DBGrant{Names: []string{"b"}}, "a", nil, "not among the databases its join token granted"},
		{"every name", DBGrant{Names: []string{"*"}}, "a", nil, ""},
		{"empty grant", DBGrant{}, "a", nil, "granted no databases"},
		{"stored labels match", byLabel, "orders", prod, ""},
		{"stored labels differ", byLabel, "orders", dev, "stored labels of the db resource orders do not match"},
		{"no stored resource", byLabel, "orders", nil, "no db resource named orders exists"},
		{"named beats labels", DBGrant{Names: []string{"orders"}, Labels: byLabel.Labels}, "orders", dev, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.grant.Check(tt.db, tt.stored)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Check(%s) = %v, want allowed", tt.db, err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Check(%s) = %v, want an error containing %q", tt.db, err, tt.wantErr)
			}
		})
	}
}

func TestParseGrant(t *testing.T) {
	tests := []struct {
		names, labels []string
		want          string
		wantErr       bool
	}{
		{[]string{"a", "b", "a"}, nil, "names a,b", false},
		{nil, []string{"env=prod", "env=stage", "team=x"}, "db resources labelled env=prod,env=stage,team=x", false},
		{[]string{""}, nil, "", true},
		{nil, []string{"env"}, "", true},
		{nil, []string{"=prod"}, "", true},
		{nil, nil, "the databases its agent registers first that no other agent was granted", false},
	}
	for _, tt := range tests {
		g, err := ParseGrant(tt.names, tt.labels)
		if (err != nil) != tt.wantErr {
			t.Fatalf("ParseGrant(%q, %q) error %v, want error %v", tt.names, tt.labels, err, tt.wantErr)
		}
		if err == nil && g.String() != tt.want {
			t.Fatalf("ParseGrant(%q, %q) = %s, want %s", tt.names, tt.labels, g, tt.want)
		}
	}
}

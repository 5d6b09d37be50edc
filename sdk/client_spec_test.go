package sdk

import (
	"reflect"
	"strings"
	"testing"
)

func TestClientSpecRender(t *testing.T) {
	spec := ClientSpec{
		Command: "psql",
		Args:    []string{`host={{join .Hosts ","}}{{if .DBName}} dbname={{.DBName}}{{end}}`, "{{if .CertFile}}--tls{{end}}"},
		Env:     map[string]string{"PGUSER": "{{.DBUser}}", "PGDATABASE": "{{.DBName}}", "PGSSLCERT": "{{.CertFile}}"},
		Config:  "User: {{.DBUser}}",
	}
	tests := []struct {
		name string
		s    ConnectSettings
		want ClientCommand
	}{
		{"through the proxy with TLS files", ConnectSettings{Hosts: []string{"a", "b"}, DBUser: "alice", DBName: "shop", CertFile: "c.crt"},
			ClientCommand{Command: "psql", Args: []string{"host=a,b dbname=shop", "--tls"}, Env: []string{"PGDATABASE=shop", "PGSSLCERT=c.crt", "PGUSER=alice"}, Config: "User: alice"}},
		{"a local proxy without a database name", ConnectSettings{Hosts: []string{"127.0.0.1"}, DBUser: "bob"},
			ClientCommand{Command: "psql", Args: []string{"host=127.0.0.1"}, Env: []string{"PGUSER=bob"}, Config: "User: bob"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := spec.Render(tt.s)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
	bad := ClientSpec{Command: "x", Args: []string{"{{.NoSuchField}}"}}
	if _, err := bad.Render(ConnectSettings{}); err == nil || !strings.Contains(err.Error(), "argument 1") {
		t.Fatalf("a template naming no setting: %v", err)
	}
}

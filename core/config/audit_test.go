package config

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

func TestAuditBlock(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want Audit
	}{
		{"defaults without a block", "", Audit{
			Path: "/d/audit/events.log", Fsync: "interval", MaxSizeMB: 100, MaxFiles: 10, OnFailure: "deny", MaxParameterBytes: 4096, DBEvents: "all",
		}},
		{"defaults in an empty block", "audit {}\n", Audit{
			Path: "/d/audit/events.log", Fsync: "interval", MaxSizeMB: 100, MaxFiles: 10, OnFailure: "deny", MaxParameterBytes: 4096, DBEvents: "all",
		}},
		{"every setting", `audit {
  path                = "/var/log/keyway/audit.log"
  fsync               = "always"
  max_size_mb         = 5
  max_files           = 3
  on_failure          = "allow"
  max_parameter_bytes = 100
  db_events           = "sessions"
}
`, Audit{Path: "/var/log/keyway/audit.log", Fsync: "always", MaxSizeMB: 5, MaxFiles: 3, OnFailure: "allow", MaxParameterBytes: 100, DBEvents: "sessions"}},
		{"relative path inside data_dir", "audit {\n  path = \"logs/a.log\"\n  fsync = \"never\"\n}\n", Audit{
			Path: "/d/logs/a.log", Fsync: "never", MaxSizeMB: 100, MaxFiles: 10, OnFailure: "deny", MaxParameterBytes: 4096, DBEvents: "all",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, errs := load(t, head+tt.src)
			if errs != "" {
				t.Fatal(errs)
			}
			got := *cfg.Audit
			got.DeclRange = tt.want.DeclRange
			if got != tt.want {
				t.Fatalf("audit = %+v\nwant    %+v", got, tt.want)
			}
		})
	}
}

func TestAuditBlockErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"bad fsync", "audit {\n  fsync = \"sometimes\"\n}\n", `k.hcl:4:11: error: Invalid fsync policy: fsync = "sometimes"`},
		{"bad on_failure", "audit {\n  on_failure = \"ignore\"\n}\n", `k.hcl:4:16: error: Invalid audit failure mode: on_failure = "ignore"`},
		{"negative size", "audit {\n  max_size_mb = -1\n}\n", "k.hcl:4:17: error: Invalid audit setting: max_size_mb = -1"},
		{"zero files", "audit {\n  max_files = 0\n}\n", "k.hcl:4:15: error: Invalid audit setting: max_files = 0"},
		{"negative parameter bytes", "audit {\n  max_parameter_bytes = -5\n}\n", "k.hcl:4:25: error: Invalid audit setting: max_parameter_bytes = -5"},
		{"wrong type", "audit {\n  max_files = \"many\"\n}\n", "k.hcl:4:16: error: Unsuitable value type"},
		{"unknown attribute", "audit {\n  retention = \"30d\"\n}\n", "k.hcl:4:3: error: Unsupported argument"},
		{"two blocks", "audit {}\naudit {}\n", "k.hcl:4:1: error: Duplicate audit block"},
		{"bad db_events", "audit {\n  db_events = \"some\"\n}\n", `k.hcl:4:15: error: Invalid audit db_events: db_events = "some"`},
		{"postgres without url", "audit {\n  postgres {}\n}\n", "Missing required argument"},
		{"postgres password in url", "audit {\n  postgres {\n    url = \"postgres://k:secret@db/audit\"\n  }\n}\n", "k.hcl:5:11: error: Password in the audit database URL"},
		{"postgres password parameter", "audit {\n  postgres {\n    url = \"postgres://k@db/audit?password=x\"\n  }\n}\n", "Remove password from the URL and use password_file instead"},
		{"postgres key in url", "audit {\n  postgres {\n    url = \"postgres://k@db/audit?sslkey=/k\"\n  }\n}\n", "Remove sslkey from the URL and use key_file instead"},
		{"postgres not a url", "audit {\n  postgres {\n    url = \"host=db user=k\"\n  }\n}\n", "url must be a postgres:// URL"},
		{"postgres half a certificate", "audit {\n  postgres {\n    url = \"postgres://k@db/audit\"\n    cert_file = \"/c\"\n  }\n}\n", "k.hcl:6:17: error: Incomplete client certificate"},
		{"postgres bad table", "audit {\n  postgres {\n    url = \"postgres://k@db/audit\"\n    table = \"Events; drop\"\n  }\n}\n", "k.hcl:6:13: error: Invalid audit table name"},
		{"postgres zero queue", "audit {\n  postgres {\n    url = \"postgres://k@db/audit\"\n    queue_size = 0\n  }\n}\n", "k.hcl:6:18: error: Invalid audit setting: queue_size = 0"},
		{"postgres on an agent", "db {\n  proxy_addr = \"p:1\"\n}\naudit {\n  postgres {\n    url = \"postgres://k@db/audit\"\n  }\n}\n", "error: Audit sink on an agent"},
		{"postgres with a file setting", "audit {\n  fsync = \"always\"\n  postgres {\n    url = \"postgres://k@db/audit\"\n  }\n}\n", "k.hcl:4:11: error: File setting with the postgres sink"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, errs := load(t, head+tt.src)
			if cfg != nil {
				t.Fatal("config accepted")
			}
			if !strings.Contains(errs, tt.want) {
				t.Fatalf("errors:\n%s\nwant %q", errs, tt.want)
			}
		})
	}
}

func TestAuditMaxSizeBytes(t *testing.T) {
	if got := (&Audit{MaxSizeMB: 3}).MaxSizeBytes(); got != 3<<20 {
		t.Fatalf("MaxSizeBytes = %d", got)
	}
}

func TestAuditPostgresBlock(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want AuditPostgres
	}{
		{"defaults", `audit {
  postgres {
    url = "postgres://keyway@db.example.com:5432/audit?sslmode=verify-full"
  }
}
`, AuditPostgres{URL: "postgres://keyway@db.example.com:5432/audit?sslmode=verify-full", Table: "keyway_audit_events", QueueSize: 10000}},
		{"every setting", `audit {
  on_failure = "allow"
  postgres {
    url           = "postgresql://keyway@db/audit"
    ca_cert_file  = "/etc/keyway/audit-ca.pem"
    cert_file     = "/etc/keyway/audit.crt"
    key_file      = "/etc/keyway/audit.key"
    password_file = "/etc/keyway/audit.password"
    table         = "audit.events"
    queue_size    = 50
  }
}
`, AuditPostgres{URL: "postgresql://keyway@db/audit", CACertFile: "/etc/keyway/audit-ca.pem", CertFile: "/etc/keyway/audit.crt",
			KeyFile: "/etc/keyway/audit.key", PasswordFile: "/etc/keyway/audit.password", Table: "audit.events", QueueSize: 50}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, errs := load(t, head+tt.src)
			if errs != "" {
				t.Fatal(errs)
			}
			if cfg.Audit.Postgres == nil {
				t.Fatal("no postgres block")
			}
			got := *cfg.Audit.Postgres
			got.DeclRange = hcl.Range{}
			if got != tt.want {
				t.Fatalf("postgres = %+v\nwant       %+v", got, tt.want)
			}
		})
	}
}

package config

import (
	"strings"
	"testing"
)

func TestAuditBlock(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want Audit
	}{
		{"defaults without a block", "", Audit{
			Path: "/d/audit/events.log", Fsync: "interval", MaxSizeMB: 100, MaxFiles: 10, OnFailure: "deny", MaxParameterBytes: 4096,
		}},
		{"defaults in an empty block", "audit {}\n", Audit{
			Path: "/d/audit/events.log", Fsync: "interval", MaxSizeMB: 100, MaxFiles: 10, OnFailure: "deny", MaxParameterBytes: 4096,
		}},
		{"every setting", `audit {
  path                = "/var/log/keyway/audit.log"
  fsync               = "always"
  max_size_mb         = 5
  max_files           = 3
  on_failure          = "allow"
  max_parameter_bytes = 100
}
`, Audit{Path: "/var/log/keyway/audit.log", Fsync: "always", MaxSizeMB: 5, MaxFiles: 3, OnFailure: "allow", MaxParameterBytes: 100}},
		{"relative path inside data_dir", "audit {\n  path = \"logs/a.log\"\n  fsync = \"never\"\n}\n", Audit{
			Path: "/d/logs/a.log", Fsync: "never", MaxSizeMB: 100, MaxFiles: 10, OnFailure: "deny", MaxParameterBytes: 4096,
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

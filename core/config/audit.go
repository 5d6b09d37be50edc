package config

import (
	"fmt"
	"path/filepath"
	"slices"

	"github.com/hashicorp/hcl/v2"
)

// Audit configures the audit log (docs/audit.md): a JSON-lines file that
// rotates by size, or, with a postgres block, a PostgreSQL table. Without
// an audit block the defaults apply: after Load, Config.Audit is never
// nil.
type Audit struct {
	// Path is the active file; relative paths are inside data_dir.
	// Defaults to DATA_DIR/audit/events.log.
	Path string `hcl:"path,optional"`
	// Fsync is always, interval (default, every second) or never.
	Fsync string `hcl:"fsync,optional"`
	// MaxSizeMB is the size in MiB past which the file rotates; 100 by
	// default.
	MaxSizeMB int `hcl:"max_size_mb,optional"`
	// MaxFiles is how many rotated files are kept; 10 by default.
	MaxFiles int `hcl:"max_files,optional"`
	// OnFailure is what happens to new sessions while the audit log
	// cannot be written: deny (default) refuses them, allow lets them
	// proceed and logs the failure.
	OnFailure string `hcl:"on_failure,optional"`
	// MaxParameterBytes cuts each bound statement parameter recorded in
	// an event to this many bytes; 4096 by default.
	MaxParameterBytes int `hcl:"max_parameter_bytes,optional"`
	// DBEvents is what is recorded of database sessions: all (default:
	// starts, ends and every statement), sessions (starts and ends) or
	// none.
	DBEvents string `hcl:"db_events,optional"`
	// Postgres, when set, sends the events to a PostgreSQL table instead
	// of the file.
	Postgres *AuditPostgres `hcl:"postgres,block"`

	DeclRange hcl.Range `hcl:",def_range"`
}

// Audit settings' values and defaults.
const (
	AuditOnFailureDeny  = "deny"
	AuditOnFailureAllow = "allow"

	DefaultAuditFile              = "audit/events.log"
	DefaultAuditFsync             = "interval"
	DefaultAuditMaxSizeMB         = 100
	DefaultAuditMaxFiles          = 10
	DefaultAuditMaxParameterBytes = 4096

	AuditDBEventsAll      = "all"
	AuditDBEventsSessions = "sessions"
	AuditDBEventsNone     = "none"
)

var auditDBEvents = []string{AuditDBEventsAll, AuditDBEventsSessions, AuditDBEventsNone}

var auditFsyncPolicies = []string{"always", "interval", "never"}

// MaxSizeBytes returns max_size_mb in bytes.
func (a *Audit) MaxSizeBytes() int64 { return int64(a.MaxSizeMB) << 20 }

// checkAudit validates the audit block and fills in the defaults,
// creating the block when the file has none.
func (c *Config) checkAudit(body hcl.Body) hcl.Diagnostics {
	if c.Audit == nil {
		c.Audit = &Audit{}
	}
	a := c.Audit
	var diags hcl.Diagnostics
	at := func(attr string) hcl.Range { return nestedAttrRange(body, a.DeclRange, attr) }
	// set reports whether the block has attr; an absent attribute decodes
	// as zero, which means "default".
	set := func(attr string) bool { return a.DeclRange != (hcl.Range{}) && at(attr) != a.DeclRange }

	switch {
	case a.Path == "":
		a.Path = filepath.Join(c.DataDir, DefaultAuditFile)
	case !filepath.IsAbs(a.Path):
		a.Path = filepath.Join(c.DataDir, a.Path)
	}
	if a.Fsync == "" {
		a.Fsync = DefaultAuditFsync
	} else if !slices.Contains(auditFsyncPolicies, a.Fsync) {
		diags = append(diags, errorAt(at("fsync"), "Invalid fsync policy",
			fmt.Sprintf("fsync = %q: use always (sync every write), interval (every second) or never (leave it to the system).", a.Fsync)))
	}
	if a.OnFailure == "" {
		a.OnFailure = AuditOnFailureDeny
	} else if a.OnFailure != AuditOnFailureDeny && a.OnFailure != AuditOnFailureAllow {
		diags = append(diags, errorAt(at("on_failure"), "Invalid audit failure mode",
			fmt.Sprintf("on_failure = %q: use deny (refuse new sessions while the audit log cannot be written) or allow (let them proceed and log the failure).", a.OnFailure)))
	}
	if a.DBEvents == "" {
		a.DBEvents = AuditDBEventsAll
	} else if !slices.Contains(auditDBEvents, a.DBEvents) {
		diags = append(diags, errorAt(at("db_events"), "Invalid audit db_events",
			fmt.Sprintf("db_events = %q: use all (sessions and every statement), sessions (starts and ends only) or none (no database session events).", a.DBEvents)))
	}
	if a.Postgres != nil {
		diags = append(diags, c.checkAuditPostgres(body, set)...)
	}
	for _, n := range []struct {
		attr  string
		value *int
		def   int
		unit  string
	}{
		{"max_size_mb", &a.MaxSizeMB, DefaultAuditMaxSizeMB, "MiB"},
		{"max_files", &a.MaxFiles, DefaultAuditMaxFiles, "rotated files"},
		{"max_parameter_bytes", &a.MaxParameterBytes, DefaultAuditMaxParameterBytes, "bytes"},
	} {
		switch {
		case *n.value < 0 || (*n.value == 0 && set(n.attr)):
			diags = append(diags, errorAt(at(n.attr), "Invalid audit setting",
				fmt.Sprintf("%s = %d: use a positive number of %s (default %d).", n.attr, *n.value, n.unit, n.def)))
		case *n.value == 0:
			*n.value = n.def
		}
	}
	return diags
}

package sdk

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// ConfigureRequest carries a plugin's configuration from the host.
type ConfigureRequest struct {
	// Config is the plugin's block decoded against its schema, as JSON:
	// attributes that were not set are absent.
	Config []byte
	// APIVersion is the kind API version the host chose.
	APIVersion uint32
	// ClusterName is the name of the keyway cluster.
	ClusterName string
	// DataDir is a directory the plugin owns for its state.
	DataDir string
	// Host is the core's callback service.
	Host Host
	// AuditMaxParameterBytes is where a protocol plugin cuts bound
	// parameters in audit events (the audit block's max_parameter_bytes).
	AuditMaxParameterBytes int
	// AuditDBEvents says which database session events a protocol plugin
	// records (the audit block's db_events): AuditDBEventsAll (also when
	// empty), AuditDBEventsSessions or AuditDBEventsNone. A plugin must
	// not build the events it is told not to record.
	AuditDBEvents string
}

// Decode unmarshals the configuration into v, refusing fields v lacks.
func (r ConfigureRequest) Decode(v any) error {
	if len(r.Config) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(r.Config))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decoding configuration: %w", err)
	}
	return nil
}

// Diagnostic is a problem with one attribute of a configuration.
type Diagnostic struct {
	// Path names the attribute, dot separated for nested blocks
	// ("tls.cert_file"); empty for the block as a whole.
	Path    string
	Summary string
	Detail  string
}

// Diagnostics is an error made of configuration problems.
type Diagnostics []Diagnostic

// Error joins the diagnostics into one message.
func (d Diagnostics) Error() string {
	parts := make([]string, 0, len(d))
	for _, diag := range d {
		msg := diag.Summary
		if diag.Path != "" {
			msg = diag.Path + ": " + msg
		}
		if diag.Detail != "" {
			msg += " (" + diag.Detail + ")"
		}
		parts = append(parts, msg)
	}
	return strings.Join(parts, "; ")
}

// Add appends a diagnostic for path.
func (d *Diagnostics) Add(path, summary, detail string) {
	*d = append(*d, Diagnostic{Path: path, Summary: summary, Detail: detail})
}

// Err returns d as an error, or nil when it is empty.
func (d Diagnostics) Err() error {
	if len(d) == 0 {
		return nil
	}
	return d
}

// DBEvents is what the host asks a protocol plugin to record of its
// database sessions: AuditDBEventsAll (also when the host says nothing),
// AuditDBEventsSessions or AuditDBEventsNone. Any other value is an error
// naming the ones this SDK knows.
func (r ConfigureRequest) DBEvents() (string, error) {
	switch r.AuditDBEvents {
	case "", AuditDBEventsAll:
		return AuditDBEventsAll, nil
	case AuditDBEventsSessions, AuditDBEventsNone:
		return r.AuditDBEvents, nil
	}
	return "", fmt.Errorf("the host asks for audit db_events %q; this plugin knows %s, %s and %s",
		r.AuditDBEvents, AuditDBEventsAll, AuditDBEventsSessions, AuditDBEventsNone)
}

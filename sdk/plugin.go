package sdk

import (
	"context"
	"fmt"
)

// Kind is what a plugin does for the core.
type Kind int

// The plugin kinds the core knows.
const (
	KindUnknown Kind = iota
	KindProtocol
	KindCA
	KindAuthz
)

// String returns the kind's name as it appears in configuration and output.
func (k Kind) String() string {
	switch k {
	case KindProtocol:
		return "protocol"
	case KindCA:
		return "ca"
	case KindAuthz:
		return "authz"
	}
	return fmt.Sprintf("unknown(%d)", int(k))
}

// APIVersion is the version of each kind's service that this SDK speaks.
// The core refuses a plugin that shares no version with it and says which
// side to upgrade.
const APIVersion uint32 = 1

// Info describes a plugin.
type Info struct {
	// Name is the plugin's name, e.g. "postgres".
	Name string
	Kind Kind
	// Version is the plugin's own release version.
	Version string
	// APIVersions lists the versions of the kind's API the plugin speaks.
	// Empty means just APIVersion.
	APIVersions []uint32
}

// Plugin is implemented by every plugin.
type Plugin interface {
	// Info describes the plugin. It must not have side effects.
	Info() Info
	// ConfigSchema describes the HCL body the plugin accepts in its
	// plugin block's config block.
	ConfigSchema() Schema
	// Configure validates and applies a configuration. Problems with
	// particular attributes are returned as Diagnostics so that the host
	// can point at their position in the configuration file.
	Configure(ctx context.Context, req ConfigureRequest) error
	// Health returns nil while the plugin can do its work.
	Health(ctx context.Context) error
}

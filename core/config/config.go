// Package config reads keyway's HCL configuration. Unknown attributes and
// blocks are errors, and every diagnostic names file:line:col. A plugin's
// own block is kept undecoded until the plugin has reported its schema.
package config

import (
	"fmt"
	"net"
	"regexp"
	"slices"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclparse"
)

// Config is a whole keyway configuration file.
type Config struct {
	ClusterName string `hcl:"cluster_name,optional"`
	DataDir     string `hcl:"data_dir"`
	LogLevel    string `hcl:"log_level,optional"`
	// CAPlugin names the plugin that holds the cluster's authorities.
	CAPlugin  string     `hcl:"ca_plugin,optional"`
	Plugins   []Plugin   `hcl:"plugin,block"`
	Listeners []Listener `hcl:"listener,block"`
	// Auth enables the auth role: authorities, users, roles, tokens.
	Auth *Auth `hcl:"auth,block"`
	// Proxy enables the proxy role: the cluster's one public address.
	Proxy *Proxy `hcl:"proxy,block"`
	// DB enables the database agent role.
	DB *DB `hcl:"db,block"`
	// Diag serves metrics and health checks.
	Diag *Diag `hcl:"diag,block"`
	// State chooses the auth role's state backend.
	State *State `hcl:"state,block"`
	// Audit configures the audit log; defaults apply without the block.
	Audit *Audit `hcl:"audit,block"`
}

// Auth configures the auth role.
type Auth struct {
	// AuthzPlugin names the plugin that makes access decisions.
	AuthzPlugin string `hcl:"authz_plugin,optional"`
	// AgentCertTTL is how long the host certificates issued to agents,
	// at join and at each renewal, are valid; "720h" by default. Values
	// under an hour are for tests.
	AgentCertTTL string `hcl:"agent_cert_ttl,optional"`
	// LoginRate limits logins (with invites too) and agents' joins per
	// client address, as COUNT/PERIOD; DefaultLoginRate when unset.
	LoginRate string `hcl:"login_rate,optional"`
	// DisconnectExpiredCert ends a live session when its client
	// certificate expires; true when unset.
	DisconnectExpiredCert *bool `hcl:"disconnect_expired_cert,optional"`
	// Listen is the HOST:PORT of the auth service's own port, where
	// proxies without the auth role (proxy { auth_addrs }) join and
	// call the cluster API; unset, the auth service has no port of its
	// own and serves only the proxy of its process.
	Listen string `hcl:"listen,optional"`
	// PublicAddr is the HOST:PORT proxies dial to reach Listen; its host
	// is in the auth service's certificate. Defaults to Listen.
	PublicAddr string `hcl:"public_addr,optional"`

	DeclRange hcl.Range `hcl:",def_range"`
}

// EndsExpiredSessions reports whether sessions end with their client
// certificate (disconnect_expired_cert, on by default).
func (a *Auth) EndsExpiredSessions() bool {
	return a == nil || a.DisconnectExpiredCert == nil || *a.DisconnectExpiredCert
}

// Proxy configures the proxy role.
type Proxy struct {
	// Listen is the HOST:PORT the proxy binds.
	Listen string `hcl:"listen"`
	// PublicAddr is the HOST:PORT clients use; its host is in the proxy's
	// certificate. Defaults to Listen.
	PublicAddr string `hcl:"public_addr,optional"`
	// HandshakeTimeout bounds how long a client may take to say what it
	// speaks and finish TLS; "10s" by default.
	HandshakeTimeout string `hcl:"handshake_timeout,optional"`
	// TLSInPlugin hands connections on the shared port to their protocol
	// plugin before TLS when this process also serves databases (a db block),
	// so the plugin completes TLS itself and a session's bytes cross no
	// other process; true by default. With false the proxy completes TLS
	// and passes the decrypted stream on.
	TLSInPlugin *bool `hcl:"tls_in_plugin,optional"`
	// APIRate limits every cluster API call per client address, as
	// COUNT/PERIOD; DefaultAPIRate when unset.
	APIRate string `hcl:"api_rate,optional"`
	// MaxUnauthenticated caps the connections, in total, that have not
	// yet proved who they are: accepted, but not yet past the handshake
	// and handed over. Connections over the cap are closed at once.
	// DefaultMaxUnauthenticated when unset.
	MaxUnauthenticated *int `hcl:"max_unauthenticated,optional"`
	// MaxUnauthenticatedPerAddress caps them per source IP address;
	// DefaultMaxUnauthenticatedPerAddress when unset.
	MaxUnauthenticatedPerAddress *int `hcl:"max_unauthenticated_per_address,optional"`
	// APIIdleTimeout closes a cluster API connection that has had no
	// call in flight for this long; "5m" by default.
	APIIdleTimeout string `hcl:"api_idle_timeout,optional"`
	// Protocols give protocols whose server speaks first ports of
	// their own, where the proxy hands each connection to the protocol's
	// plugin before TLS.
	Protocols []ProxyProtocol `hcl:"protocol,block"`
	// AuthAddrs are the auth service's ports (auth { listen }) that a
	// proxy without an auth block in its process joins and calls, tried
	// in order.
	AuthAddrs []string `hcl:"auth_addrs,optional"`
	// TokenFile holds the proxy token (keyway tokens add --type=proxy)
	// a proxy without an auth block joins with on its first start.
	TokenFile string `hcl:"token_file,optional"`
	// Name is the host name a proxy without an auth block joins with;
	// the machine's host name by default.
	Name string `hcl:"name,optional"`

	DeclRange hcl.Range `hcl:",def_range"`
}

// Remote reports whether the proxy runs without the auth role in its
// process and calls the auth service at AuthAddrs.
func (p *Proxy) Remote() bool { return p != nil && len(p.AuthAddrs) > 0 }

// ProxyProtocol is a protocol's own port on the proxy.
type ProxyProtocol struct {
	// Name is a protocol name a loaded plugin declares.
	Name string `hcl:"name,label"`
	// Listen is the HOST:PORT the proxy binds for it.
	Listen string `hcl:"listen"`

	DeclRange hcl.Range `hcl:",def_range"`
}

// Defaults of the proxy's connection limits.
const (
	DefaultMaxUnauthenticated           = 4096
	DefaultMaxUnauthenticatedPerAddress = 256
	DefaultAPIIdleTimeout               = 5 * time.Minute
)

// Unauthenticated returns the caps on unauthenticated connections, in
// total and per source address.
func (p *Proxy) Unauthenticated() (total, perAddress int) {
	total, perAddress = DefaultMaxUnauthenticated, DefaultMaxUnauthenticatedPerAddress
	if p.MaxUnauthenticated != nil {
		total = *p.MaxUnauthenticated
	}
	if p.MaxUnauthenticatedPerAddress != nil {
		perAddress = *p.MaxUnauthenticatedPerAddress
	}
	return total, perAddress
}

// APIIdle returns how long an idle cluster API connection is kept.
func (p *Proxy) APIIdle() time.Duration {
	d, err := time.ParseDuration(p.APIIdleTimeout)
	if err != nil || d <= 0 {
		return DefaultAPIIdleTimeout
	}
	return d
}

// PluginTLS reports whether protocol plugins complete the TLS of
// clients on the shared port.
func (p *Proxy) PluginTLS() bool { return p.TLSInPlugin == nil || *p.TLSInPlugin }

// Handshake returns the proxy's handshake timeout.
func (p *Proxy) Handshake() time.Duration {
	d, err := time.ParseDuration(p.HandshakeTimeout)
	if err != nil || d <= 0 {
		return 10 * time.Second
	}
	return d
}

// DB configures the database agent role.
type DB struct {
	// ProxyAddr is the proxy an agent joins and tunnels to; empty when
	// the agent runs in the same process as auth and proxy.
	ProxyAddr string `hcl:"proxy_addr,optional"`
	// TokenFile holds the one-time join token (mode 0600).
	TokenFile string `hcl:"token_file,optional"`
	// AgentName is the agent's host name in the cluster
	// (spiffe://CLUSTER/host/NAME); the machine's host name by default.
	AgentName string `hcl:"agent_name,optional"`
	// DataConnections is how many connections the agent keeps dialled
	// to each proxy for sessions to come; DefaultDataConnections when
	// unset, 0 sends every session through the tunnel.
	DataConnections *int       `hcl:"data_connections,optional"`
	Databases       []Database `hcl:"database,block"`
	// Resources select the cluster's db resources that this agent
	// serves besides its own database blocks.
	Resources []Resources `hcl:"resources,block"`

	DeclRange hcl.Range `hcl:",def_range"`
}

// Bounds of an agent's data connections (db { data_connections }).
const (
	DefaultDataConnections = 4
	// MaxDataConnections is the most a proxy parks for one agent
	// (core/tunnel's MaxParked).
	MaxDataConnections = 16
)

// DataConns returns how many data connections the agent keeps dialled
// to each proxy.
func (d *DB) DataConns() int {
	if d.DataConnections == nil {
		return DefaultDataConnections
	}
	return *d.DataConnections
}

// Database is one database: a database block of an agent's
// configuration, or a db resource of the cluster (keyway create -f),
// which is stored as this type's JSON.
type Database struct {
	Name        string            `hcl:"name,label" json:"name"`
	Description string            `hcl:"description,optional" json:"description,omitempty"`
	Protocol    string            `hcl:"protocol" json:"protocol"`
	URI         string            `hcl:"uri" json:"uri"`
	Labels      map[string]string `hcl:"labels,optional" json:"labels,omitempty"`
	// CACertFile trusts a custom CA for the server's certificate instead
	// of the cluster's db authority.
	CACertFile string `hcl:"ca_cert_file,optional" json:"ca_cert_file,omitempty"`
	// CACertPEM is the content of CACertFile. A db resource carries it,
	// read where the resource file was loaded, because the agents that
	// serve it run on other hosts; an agent's own database blocks leave
	// it empty and the agent reads the file.
	CACertPEM string `json:"ca_cert_pem,omitempty"`
	// TrustSystemCertPool trusts the system's roots.
	TrustSystemCertPool bool `hcl:"trust_system_cert_pool,optional" json:"trust_system_cert_pool,omitempty"`
	// Mode is verify-full (default) or verify-ca.
	Mode string `hcl:"mode,optional" json:"mode,omitempty"`
	// ServerName overrides the name verified in the server's certificate.
	ServerName string `hcl:"server_name,optional" json:"server_name,omitempty"`
	// Pool, when present, keeps server connections between client
	// sessions (see pool.go).
	Pool *Pool `hcl:"pool,block" json:"pool,omitempty"`

	DeclRange hcl.Range `hcl:",def_range" json:"-"`
}

// Plugin is a plugin block. A built-in plugin needs no command; an
// external one names its executable and that file's sha256.
type Plugin struct {
	Name     string   `hcl:"name,label"`
	Command  string   `hcl:"command,optional"`
	Args     []string `hcl:"args,optional"`
	SHA256   string   `hcl:"sha256,optional"`
	LogLevel string   `hcl:"log_level,optional"`
	// StartTimeout bounds the plugin's start-up handshake, as a duration
	// such as "30s"; empty means the default.
	StartTimeout string `hcl:"start_timeout,optional"`
	Config       *Body  `hcl:"config,block"`

	DeclRange hcl.Range `hcl:",def_range"`
}

// Body is a block kept undecoded.
type Body struct {
	Body      hcl.Body  `hcl:",remain"`
	DeclRange hcl.Range `hcl:",def_range"`
}

// Listener binds a TCP address to a protocol plugin.
type Listener struct {
	Name     string `hcl:"name,label"`
	Address  string `hcl:"address"`
	Protocol string `hcl:"protocol"`

	DeclRange hcl.Range `hcl:",def_range"`
}

// Parser reads configuration files and remembers their sources so that
// diagnostics can be printed with the offending line.
type Parser struct {
	p *hclparse.Parser
}

// NewParser returns an empty parser.
func NewParser() *Parser { return &Parser{p: hclparse.NewParser()} }

// Files returns the sources read so far, for hcl.NewDiagnosticTextWriter.
func (p *Parser) Files() map[string]*hcl.File { return p.p.Files() }

// Load parses and checks the file at path. builtins names the plugins
// compiled into this binary.
func (p *Parser) Load(path string, builtins []string) (*Config, hcl.Diagnostics) {
	f, diags := p.p.ParseHCLFile(path)
	if diags.HasErrors() {
		return nil, diags
	}
	var cfg Config
	diags = append(diags, gohcl.DecodeBody(f.Body, nil, &cfg)...)
	if diags.HasErrors() {
		return nil, diags
	}
	diags = append(diags, cfg.check(f.Body, builtins)...)
	if diags.HasErrors() {
		return nil, diags
	}
	return &cfg, diags
}

// Defaults for plugin choices.
const (
	// DefaultCAPlugin is the CA plugin used when ca_plugin is not set.
	DefaultCAPlugin = "ca-vault"
	// DefaultAuthzPlugin makes decisions when authz_plugin is not set.
	DefaultAuthzPlugin = "rbac-opa"
)

var (
	sha256Pattern = regexp.MustCompile(`^[0-9a-f]{64}$`)
	namePattern   = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)
	logLevels     = []string{"", "trace", "debug", "info", "warn", "error", "off"}
)

// check applies the rules the schema cannot express.
func (c *Config) check(body hcl.Body, builtins []string) hcl.Diagnostics {
	var diags hcl.Diagnostics
	if c.ClusterName == "" && c.Auth == nil && (c.DB != nil && c.DB.ProxyAddr != "" || c.Proxy.Remote()) {
		// An agent or a proxy learns its cluster's name when it joins.
	} else if c.ClusterName == "" {
		diags = append(diags, attrError(body, "cluster_name", "Missing cluster name",
			"cluster_name is required; only an agent that joins through a proxy (db block with proxy_addr) or a proxy that joins the auth service (proxy block with auth_addrs) learns it when it joins."))
	} else if !namePattern.MatchString(c.ClusterName) {
		diags = append(diags, attrError(body, "cluster_name",
			"Invalid cluster name",
			fmt.Sprintf("%q is not a valid cluster name: use lower-case letters, digits, '-' and '_', starting with a letter.", c.ClusterName)))
	}
	if !slices.Contains(logLevels, c.LogLevel) {
		diags = append(diags, attrError(body, "log_level",
			"Invalid log level",
			fmt.Sprintf("%q is not a log level: use one of trace, debug, info, warn, error or off.", c.LogLevel)))
	}
	if c.CAPlugin == "" {
		c.CAPlugin = DefaultCAPlugin
	}
	if c.Plugin(c.CAPlugin) == nil && !slices.Contains(builtins, c.CAPlugin) {
		diags = append(diags, attrError(body, "ca_plugin", "Unknown CA plugin",
			fmt.Sprintf("ca_plugin names %q, which is neither built in nor configured in a plugin block.", c.CAPlugin)))
	}
	seen := map[string]hcl.Range{}
	for _, pl := range c.Plugins {
		diags = append(diags, checkPlugin(body, pl, builtins, seen)...)
	}
	for _, l := range c.Listeners {
		diags = append(diags, c.checkListener(body, l, builtins)...)
	}
	diags = append(diags, c.checkRoles(body, builtins)...)
	diags = append(diags, c.checkDiag(body)...)
	diags = append(diags, c.checkState(body)...)
	diags = append(diags, c.checkAudit(body)...)
	diags = append(diags, c.checkSplitRoles(body)...)
	return diags
}

func checkPlugin(body hcl.Body, pl Plugin, builtins []string, seen map[string]hcl.Range) hcl.Diagnostics {
	var diags hcl.Diagnostics
	rng := pl.DeclRange
	at := func(attr string) *hcl.Range { return blockAttrRange(body, "plugin", pl.Name, attr, rng).Ptr() }
	if prev, dup := seen[pl.Name]; dup {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError, Summary: "Duplicate plugin block",
			Detail:  fmt.Sprintf("Plugin %q is already configured at %s.", pl.Name, prev),
			Subject: &rng,
		})
	}
	seen[pl.Name] = rng
	if !namePattern.MatchString(pl.Name) {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError, Summary: "Invalid plugin name",
			Detail:  fmt.Sprintf("%q is not a valid plugin name: use lower-case letters, digits, '-' and '_', starting with a letter.", pl.Name),
			Subject: &rng,
		})
	}
	builtin := slices.Contains(builtins, pl.Name)
	switch {
	case builtin && pl.Command != "":
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError, Summary: "Built-in plugin with a command",
			Detail:  fmt.Sprintf("%q is built into keyway; remove command, or give the external plugin another name.", pl.Name),
			Subject: at("command"),
		})
	case !builtin && pl.Command == "":
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError, Summary: "Unknown plugin",
			Detail:  fmt.Sprintf("%q is not built into keyway (built-in: %v); an external plugin needs command and sha256.", pl.Name, builtins),
			Subject: &rng,
		})
	case !builtin && pl.SHA256 == "":
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError, Summary: "Missing plugin checksum",
			Detail:  fmt.Sprintf("External plugin %q needs sha256, the checksum of %s (sha256sum prints it).", pl.Name, pl.Command),
			Subject: &rng,
		})
	case pl.SHA256 != "" && !sha256Pattern.MatchString(pl.SHA256):
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError, Summary: "Invalid plugin checksum",
			Detail:  fmt.Sprintf("sha256 of plugin %q must be 64 lower-case hex digits, not %q.", pl.Name, pl.SHA256),
			Subject: at("sha256"),
		})
	}
	if !slices.Contains(logLevels, pl.LogLevel) {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError, Summary: "Invalid log level",
			Detail:  fmt.Sprintf("%q is not a log level: use one of trace, debug, info, warn, error or off.", pl.LogLevel),
			Subject: at("log_level"),
		})
	}
	if d, err := time.ParseDuration(pl.StartTimeout); pl.StartTimeout != "" && (err != nil || d <= 0) {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError, Summary: "Invalid plugin start timeout",
			Detail:  fmt.Sprintf("start_timeout of plugin %q is %q, not a positive duration such as 30s.", pl.Name, pl.StartTimeout),
			Subject: at("start_timeout"),
		})
	}
	return diags
}

// StartLimit returns the plugin's start timeout, or zero for the default.
func (pl *Plugin) StartLimit() time.Duration {
	d, err := time.ParseDuration(pl.StartTimeout)
	if err != nil || d <= 0 {
		return 0
	}
	return d
}

func (c *Config) checkListener(body hcl.Body, l Listener, builtins []string) hcl.Diagnostics {
	var diags hcl.Diagnostics
	at := func(attr string) *hcl.Range { return blockAttrRange(body, "listener", l.Name, attr, l.DeclRange).Ptr() }
	if _, _, err := net.SplitHostPort(l.Address); err != nil {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError, Summary: "Invalid listener address",
			Detail:  fmt.Sprintf("Listener %q: %q is not HOST:PORT (%v).", l.Name, l.Address, err),
			Subject: at("address"),
		})
	}
	if c.Plugin(l.Protocol) == nil && !slices.Contains(builtins, l.Protocol) {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError, Summary: "Unknown protocol plugin",
			Detail:  fmt.Sprintf("Listener %q names protocol %q, which is neither built in nor configured in a plugin block.", l.Name, l.Protocol),
			Subject: at("protocol"),
		})
	}
	return diags
}

// Plugin returns the plugin block named name, or nil.
func (c *Config) Plugin(name string) *Plugin {
	for i := range c.Plugins {
		if c.Plugins[i].Name == name {
			return &c.Plugins[i]
		}
	}
	return nil
}

// Level returns the configured log level, info by default.
func Level(s string) hclog.Level {
	if s == "" {
		return hclog.Info
	}
	return hclog.LevelFromString(s)
}

// attrError points at an attribute's value when it is present, else at the
// body.
func attrError(body hcl.Body, name, summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: attrRange(body, name).Ptr()}
}

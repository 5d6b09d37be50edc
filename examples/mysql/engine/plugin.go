package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/keyway-dev/keyway/sdk"
	"github.com/keyway-dev/keyway/sdk/dbsession"
)

// Version is the plugin's release version.
const Version = "0.1.0"

// Plugin is the MySQL protocol plugin.
type Plugin struct {
	mu    sync.RWMutex
	host  sdk.Host
	cfg   settings
	certs *dbsession.CertCache
	conns *connections
	// trust keeps the databases' parsed CA pools, shared by sessions.
	trust *sdk.TrustCache
}

// settings is the applied configuration.
type settings struct {
	loginTimeout  time.Duration
	dialTimeout   time.Duration
	serverVersion string
	maxParameter  int
	cluster       string
	dbEvents      string
}

func (s settings) sessions() bool   { return s.dbEvents != sdk.AuditDBEventsNone }
func (s settings) statements() bool { return s.dbEvents == sdk.AuditDBEventsAll }

// New returns the plugin.
func New() *Plugin {
	return &Plugin{certs: dbsession.NewCertCache(), conns: newConnections(), trust: new(sdk.TrustCache)}
}

// Info describes the plugin.
func (*Plugin) Info() sdk.Info {
	return sdk.Info{Name: "mysql", Kind: sdk.KindProtocol, Version: Version}
}

// ConfigSchema lists the plugin's settings.
func (*Plugin) ConfigSchema() sdk.Schema {
	return sdk.Schema{Attributes: []sdk.Attribute{
		{Name: "login_timeout", Type: sdk.TypeString, Description: "how long a client may take to log in (default 10s)"},
		{Name: "dial_timeout", Type: sdk.TypeString, Description: "how long to wait for the database to accept a connection and log in (default 10s)"},
		{Name: "server_version", Type: sdk.TypeString, Description: "the server version keyway announces to clients before it knows their database (default 5.5.5-10.11.0-keyway)"},
	}}
}

type config struct {
	LoginTimeout  *string `json:"login_timeout"`
	DialTimeout   *string `json:"dial_timeout"`
	ServerVersion *string `json:"server_version"`
}

// Configure applies the settings and keeps the host.
func (p *Plugin) Configure(_ context.Context, req sdk.ConfigureRequest) error {
	var c config
	if err := req.Decode(&c); err != nil {
		return err
	}
	s := settings{
		loginTimeout: 10 * time.Second, dialTimeout: 10 * time.Second,
		serverVersion: "5.5.5-10.11.0-keyway", maxParameter: req.AuditMaxParameterBytes, cluster: req.ClusterName,
	}
	if s.maxParameter <= 0 {
		s.maxParameter = 4096
	}
	var err error
	if s.dbEvents, err = req.DBEvents(); err != nil {
		return err
	}
	var diags sdk.Diagnostics
	for _, d := range []struct {
		path string
		v    *string
		into *time.Duration
	}{{"login_timeout", c.LoginTimeout, &s.loginTimeout}, {"dial_timeout", c.DialTimeout, &s.dialTimeout}} {
		if d.v == nil {
			continue
		}
		v, err := time.ParseDuration(*d.v)
		if err != nil || v <= 0 {
			diags.Add(d.path, fmt.Sprintf("%q is not a positive duration such as 10s", *d.v), "")
			continue
		}
		*d.into = v
	}
	if c.ServerVersion != nil {
		if *c.ServerVersion == "" {
			diags.Add("server_version", "the server version must not be empty", "")
		}
		s.serverVersion = *c.ServerVersion
	}
	if err := diags.Err(); err != nil {
		return err
	}
	p.mu.Lock()
	p.host, p.cfg = req.Host, s
	p.mu.Unlock()
	return nil
}

// Health fails until the plugin is configured with a host.
func (p *Plugin) Health(context.Context) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.host == nil {
		return errors.New("not configured")
	}
	return nil
}

func (p *Plugin) current() (sdk.Host, settings) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.host, p.cfg
}

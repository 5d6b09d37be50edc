// Package postgres is keyway's PostgreSQL protocol plugin. The core hands
// it each client session as a connection that already passed the proxy's
// TLS and certificate check; the plugin reads the StartupMessage, checks it
// against the certificate's route and asks the cluster to authorise it,
// connects to the database with mutual TLS as the database user, and then
// relays the session. Every error reaches the client as a PostgreSQL
// ErrorResponse with a SQLSTATE and a sentence a person understands.
package postgres

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
const Version = "0.2.0"

// Plugin is the PostgreSQL protocol plugin.
type Plugin struct {
	mu      sync.RWMutex
	host    sdk.Host
	cfg     settings
	certs   *dbsession.CertCache
	cancels *cancels
	bufs    *bufferPool
	// pool keeps server connections between sessions of the databases
	// that ask for it.
	pool *serverPool
	// trust keeps the databases' parsed CA pools, shared by sessions.
	trust *sdk.TrustCache
	// groups keeps the key-exchange group each database chose.
	groups *groupMemory
}

// settings is the applied configuration.
type settings struct {
	startupTimeout time.Duration
	dialTimeout    time.Duration
	// clientWriteTimeout ends a session whose client takes none of what
	// it is sent for this long.
	clientWriteTimeout time.Duration
	maxParameter       int
	cluster            string
	// dbEvents is what the audit log records of sessions:
	// sdk.AuditDBEventsAll, AuditDBEventsSessions or AuditDBEventsNone.
	dbEvents string
}

// sessions reports whether session starts and ends are recorded.
func (s settings) sessions() bool { return s.dbEvents != sdk.AuditDBEventsNone }

// statements reports whether statements are recorded.
func (s settings) statements() bool { return s.dbEvents == sdk.AuditDBEventsAll }

// New returns the plugin.
func New() sdk.Plugin {
	return &Plugin{certs: dbsession.NewCertCache(), cancels: newCancels(), bufs: newBufferPool(), pool: newServerPool(), trust: new(sdk.TrustCache), groups: new(groupMemory)}
}

// Info describes the plugin.
func (*Plugin) Info() sdk.Info {
	return sdk.Info{Name: "postgres", Kind: sdk.KindProtocol, Version: Version}
}

// ConfigSchema lists the plugin's settings.
func (*Plugin) ConfigSchema() sdk.Schema {
	return sdk.Schema{Attributes: []sdk.Attribute{
		{Name: "startup_timeout", Type: sdk.TypeString, Description: "how long a client may take to send its StartupMessage (default 10s)"},
		{Name: "dial_timeout", Type: sdk.TypeString, Description: "how long to wait for the database to accept a connection (default 10s)"},
		{Name: "client_write_timeout", Type: sdk.TypeString, Description: "how long a client may take none of what it is sent before its session is closed (default 2m)"},
	}}
}

type config struct {
	StartupTimeout     *string `json:"startup_timeout"`
	DialTimeout        *string `json:"dial_timeout"`
	ClientWriteTimeout *string `json:"client_write_timeout"`
}

// Configure applies the settings and keeps the host for authorisation
// and database certificates.
func (p *Plugin) Configure(_ context.Context, req sdk.ConfigureRequest) error {
	var c config
	if err := req.Decode(&c); err != nil {
		return err
	}
	var diags sdk.Diagnostics
	s := settings{
		startupTimeout: 10 * time.Second, dialTimeout: 10 * time.Second, clientWriteTimeout: 2 * time.Minute,
		maxParameter: req.AuditMaxParameterBytes, cluster: req.ClusterName,
	}
	if s.maxParameter <= 0 {
		s.maxParameter = 4096
	}
	var err error
	if s.dbEvents, err = req.DBEvents(); err != nil {
		return err
	}
	parse := func(path string, v *string, into *time.Duration) {
		if v == nil {
			return
		}
		d, err := time.ParseDuration(*v)
		if err != nil || d <= 0 {
			diags.Add(path, fmt.Sprintf("%q is not a positive duration such as 10s", *v), "")
			return
		}
		*into = d
	}
	parse("startup_timeout", c.StartupTimeout, &s.startupTimeout)
	parse("dial_timeout", c.DialTimeout, &s.dialTimeout)
	parse("client_write_timeout", c.ClientWriteTimeout, &s.clientWriteTimeout)
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

// conns is the pool of a database whose definition has one, or nil.
func (p *Plugin) conns(settings *sdk.DatabasePool) *serverPool {
	if settings == nil || settings.Mode != sdk.PoolModeSession {
		return nil
	}
	return p.pool
}

func (p *Plugin) current() (sdk.Host, settings) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.host, p.cfg
}

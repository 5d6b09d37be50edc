package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/keyway-dev/keyway/core/access"
	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/audit"
	"github.com/keyway-dev/keyway/core/authority"
	"github.com/keyway-dev/keyway/core/config"
	"github.com/keyway-dev/keyway/sdk"
)

// Remote reaches the auth service through the agent's tunnel: access
// decisions, db-client certificates (keys made here, CSRs sent) and the
// cluster's authorities.
type Remote struct {
	mu     sync.RWMutex
	client apiv1.AgentClient
	// changed is closed, and replaced, when the client changes.
	changed chan struct{}

	casMu   sync.Mutex
	cas     *apiv1.AuthoritiesResponse
	fetched time.Time
}

// SetClient installs the client of the current tunnel.
func (r *Remote) SetClient(c apiv1.AgentClient) {
	r.mu.Lock()
	r.client = c
	if r.changed != nil {
		close(r.changed)
	}
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

// waitClient returns the current tunnel's client, waiting for the tunnel
// to be up.
func (r *Remote) waitClient(ctx context.Context) (apiv1.AgentClient, error) {
	for {
		r.mu.Lock()
		c, changed := r.client, r.changed
		if changed == nil {
			r.changed = make(chan struct{})
			changed = r.changed
		}
		r.mu.Unlock()
		if c != nil {
			return c, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-changed:
		}
	}
}

// WatchDatabases follows the db resources matching selectors through
// the tunnel (Agent.WatchDatabases), waiting for the tunnel first. It
// returns when the stream breaks, as it does when the tunnel does.
func (r *Remote) WatchDatabases(ctx context.Context, selectors []access.LabelSelector, apply func([]config.Database)) error {
	c, err := r.waitClient(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.WatchDatabases(ctx, &apiv1.WatchDatabasesRequest{Selectors: SelectorsToProto(selectors)})
	if err != nil {
		return fmt.Errorf("watching db resources through the tunnel: %w", err)
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			return fmt.Errorf("watching db resources through the tunnel: %w", err)
		}
		dbs := make([]config.Database, 0, len(resp.GetDatabases()))
		for _, d := range resp.GetDatabases() {
			dbs = append(dbs, DefinitionFromProto(d))
		}
		apply(dbs)
	}
}

func (r *Remote) agent() (apiv1.AgentClient, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.client == nil {
		return nil, fmt.Errorf("the agent is not connected to its proxy")
	}
	return r.client, nil
}

// Authorize asks the auth service.
func (r *Remote) Authorize(ctx context.Context, req *apiv1.AuthorizeRequest) (*apiv1.AuthorizeResponse, error) {
	c, err := r.agent()
	if err != nil {
		return nil, err
	}
	return c.Authorize(ctx, req)
}

// DBClientCert makes a key and has the auth service certify it.
func (r *Remote) DBClientCert(ctx context.Context, dbUser string) (authority.DBClientCert, error) {
	c, err := r.agent()
	if err != nil {
		return authority.DBClientCert{}, err
	}
	key, err := authority.NewKey("")
	if err != nil {
		return authority.DBClientCert{}, err
	}
	csr, err := authority.NewCSR(key, dbUser)
	if err != nil {
		return authority.DBClientCert{}, err
	}
	resp, err := c.SignDBClient(ctx, &apiv1.SignDBClientRequest{DbUser: dbUser, Csr: csr})
	if err != nil {
		return authority.DBClientCert{}, err
	}
	keyPEM, err := authority.KeyPEM(key)
	if err != nil {
		return authority.DBClientCert{}, err
	}
	return authority.DBClientCert{CertPEM: authority.CertsPEM(resp.GetCertificate()), KeyPEM: keyPEM, NotAfter: time.Unix(resp.GetNotAfterUnix(), 0)}, nil
}

// PEM returns an authority's certificates, refreshed every 30 s.
func (r *Remote) PEM(ctx context.Context, a sdk.Authority) ([]byte, error) {
	r.casMu.Lock()
	defer r.casMu.Unlock()
	if r.cas == nil || time.Since(r.fetched) > 30*time.Second {
		c, err := r.agent()
		if err != nil {
			return nil, err
		}
		resp, err := c.Authorities(ctx, &apiv1.AuthoritiesRequest{})
		if err != nil {
			return nil, err
		}
		r.cas, r.fetched = resp, time.Now()
	}
	switch a {
	case sdk.AuthorityDB:
		return authority.CertsPEM(r.cas.GetDbCas()...), nil
	case sdk.AuthorityUser:
		return authority.CertsPEM(r.cas.GetUserCas()...), nil
	}
	return nil, fmt.Errorf("the agent has no %s authority", a)
}

// Connected reports whether the tunnel to the proxy is up.
func (r *Remote) Connected() bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.client != nil
}

// Emit sends audit events to the cluster's log through the tunnel.
func (r *Remote) Emit(ctx context.Context, events ...audit.Event) error {
	return r.sendAudit(ctx, false, events)
}

// EmitDurable sends audit events and returns once the cluster's log has
// synced them.
func (r *Remote) EmitDurable(ctx context.Context, events ...audit.Event) error {
	return r.sendAudit(ctx, true, events)
}

func (r *Remote) sendAudit(ctx context.Context, durable bool, events []audit.Event) error {
	c, err := r.agent()
	if err != nil {
		return err
	}
	req := &apiv1.AuditRequest{Durable: durable}
	for _, e := range events {
		b, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("encoding an audit event: %w", err)
		}
		req.EventsJson = append(req.EventsJson, b)
	}
	_, err = c.Audit(ctx, req)
	return err
}

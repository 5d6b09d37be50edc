package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fastjson"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyway-dev/keyway/core/access"
	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/audit"
	"github.com/keyway-dev/keyway/core/authority"
	"github.com/keyway-dev/keyway/core/config"
	"github.com/keyway-dev/keyway/sdk"
)

// Remote reaches the auth service through the agent's tunnels: access
// decisions, db-client certificates (keys made here, CSRs sent) and the
// cluster's authorities. With a tunnel to each proxy, a call goes through
// the tunnel that has been up longest and, if that tunnel fails it
// (codes.Unavailable), through the next: every proxy reaches the same
// auth state. A session's own calls (its decision, its certificate, its
// audit events) go instead through the tunnel of the proxy that routed
// it: only that proxy holds the session's grant (docs/architecture.md,
// "What an agent may ask for").
type Remote struct {
	mu    sync.RWMutex
	links []*remoteLink
	// changed is closed, and replaced, when a tunnel comes up.
	changed chan struct{}
	// sessions maps a session's id to the proxy that routed it; ended
	// ones are swept at most every sessionPrune.
	sessions  map[string]*sessionRoute
	lastPrune time.Time

	casMu   sync.Mutex
	cas     *apiv1.AuthoritiesResponse
	fetched time.Time
}

// remoteLink is the API client of one tunnel.
type remoteLink struct {
	proxy  string
	client apiv1.AgentClient
	// detached is set when the tunnel broke: a call that was under way
	// then fails with whatever gRPC says of a closing connection.
	detached atomic.Bool
}

// ErrNotConnected means no tunnel to any proxy is up.
var ErrNotConnected = errors.New("the agent is not connected to any proxy")

// Attach adds the client of a tunnel that just came up; the returned
// function removes it when the tunnel breaks.
func (r *Remote) Attach(proxy string, c apiv1.AgentClient) (detach func()) {
	l := &remoteLink{proxy: proxy, client: c}
	r.mu.Lock()
	r.links = append(r.links, l)
	if r.changed != nil {
		close(r.changed)
		r.changed = nil
	}
	r.mu.Unlock()
	return func() {
		l.detached.Store(true)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.links = slices.DeleteFunc(r.links, func(x *remoteLink) bool { return x == l })
	}
}

// waitLink returns the client of the oldest tunnel, waiting for one to
// come up.
func (r *Remote) waitLink(ctx context.Context) (apiv1.AgentClient, error) {
	for {
		r.mu.Lock()
		if len(r.links) > 0 {
			c := r.links[0].client
			r.mu.Unlock()
			return c, nil
		}
		if r.changed == nil {
			r.changed = make(chan struct{})
		}
		changed := r.changed
		r.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-changed:
		}
	}
}

// WatchDatabases follows the db resources matching selectors through the
// oldest tunnel (Agent.WatchDatabases), waiting for a tunnel first. It
// returns when the stream breaks, as it does when that tunnel does; the
// caller watches again, through whichever tunnel is then oldest.
func (r *Remote) WatchDatabases(ctx context.Context, selectors []access.LabelSelector, apply func([]config.Database)) error {
	c, err := r.waitLink(ctx)
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

// Proxies returns the addresses of the tunnels that are up, oldest first.
func (r *Remote) Proxies() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, len(r.links))
	for i, l := range r.links {
		out[i] = l.proxy
	}
	return out
}

// call runs fn with each tunnel's client in turn until one succeeds or
// fails with an answer: a failure with codes.Unavailable (the tunnel or
// that proxy's side is down), or any failure of a call whose tunnel broke
// meanwhile (gRPC then reports the closing connection as Canceled), goes
// on to the next tunnel, unless the caller's ctx has ended.
func (r *Remote) call(ctx context.Context, fn func(apiv1.AgentClient) error) error {
	r.mu.RLock()
	links := slices.Clone(r.links)
	r.mu.RUnlock()
	if len(links) == 0 {
		return ErrNotConnected
	}
	var err error
	for _, l := range links {
		err = fn(l.client)
		if err == nil || ctx.Err() != nil || (status.Code(err) != codes.Unavailable && !l.detached.Load()) {
			return err
		}
	}
	return err
}

// Authorize asks the proxy that routed the session.
func (r *Remote) Authorize(ctx context.Context, req *apiv1.AuthorizeRequest) (*apiv1.AuthorizeResponse, error) {
	var resp *apiv1.AuthorizeResponse
	err := r.sessionCall(ctx, req.GetSessionId(), func(c apiv1.AgentClient) (err error) {
		resp, err = c.Authorize(ctx, req)
		return err
	})
	return resp, err
}

// DBClientCert makes a key and has the proxy that routed the session
// certify it for the session's database and database user.
func (r *Remote) DBClientCert(ctx context.Context, sessionID, database, dbUser string) (authority.DBClientCert, error) {
	key, err := authority.NewKey("")
	if err != nil {
		return authority.DBClientCert{}, err
	}
	csr, err := authority.NewCSR(key, dbUser)
	if err != nil {
		return authority.DBClientCert{}, err
	}
	var resp *apiv1.SignDBClientResponse
	err = r.sessionCall(ctx, sessionID, func(c apiv1.AgentClient) (err error) {
		resp, err = c.SignDBClient(ctx, &apiv1.SignDBClientRequest{SessionId: sessionID, Database: database, DbUser: dbUser, Csr: csr})
		return err
	})
	if err != nil {
		return authority.DBClientCert{}, err
	}
	keyPEM, err := authority.KeyPEM(key)
	if err != nil {
		return authority.DBClientCert{}, err
	}
	return authority.DBClientCert{CertPEM: authority.CertsPEM(resp.GetCertificate()), KeyPEM: keyPEM, NotAfter: time.Unix(resp.GetNotAfterUnix(), 0)}, nil
}

// PEM returns an authority's certificates (user, db or host), the active
// one first, refreshed every 30 s.
func (r *Remote) PEM(ctx context.Context, a sdk.Authority) ([]byte, error) {
	r.casMu.Lock()
	defer r.casMu.Unlock()
	if r.cas == nil || time.Since(r.fetched) > 30*time.Second {
		var resp *apiv1.AuthoritiesResponse
		err := r.call(ctx, func(c apiv1.AgentClient) (err error) {
			resp, err = c.Authorities(ctx, &apiv1.AuthoritiesRequest{})
			return err
		})
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
	case sdk.AuthorityHost:
		return authority.CertsPEM(r.cas.GetHostCas()...), nil
	}
	return nil, fmt.Errorf("the agent has no %s authority", a)
}

// Connected reports whether a tunnel to a proxy is up.
func (r *Remote) Connected() bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.links) > 0
}

// Emit sends audit events to the cluster's log, each session's through
// the tunnel of the proxy that routed it, which accepts only events of
// sessions it routed to this agent.
//
// Delivery is at least once while that tunnel is up, or comes back: the
// proxy keeps a session's grant for a while after it ends, and takes its
// events again over a new tunnel of the same agent. If a tunnel dies
// after its proxy wrote a batch but before the answer arrived, the batch
// is written twice; both copies carry the same session id and event
// index (sid, ei), which identify the duplicate. With the session's
// proxy unreachable the batch fails and on_failure applies.
func (r *Remote) Emit(ctx context.Context, events ...audit.Event) error {
	return r.sendAudit(ctx, false, events)
}

// EmitDurable sends audit events and returns once the cluster's log has
// synced them.
func (r *Remote) EmitDurable(ctx context.Context, events ...audit.Event) error {
	return r.sendAudit(ctx, true, events)
}

func (r *Remote) sendAudit(ctx context.Context, durable bool, events []audit.Event) error {
	objects := make([][]byte, 0, len(events))
	sessions := make([]string, 0, len(events))
	for _, e := range events {
		b, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("encoding an audit event: %w", err)
		}
		objects = append(objects, b)
		sessions = append(sessions, e.SessionID)
	}
	return r.sendObjects(ctx, durable, objects, sessions)
}

// EmitJSON sends a plugin's audit events as the plugin encoded them, as
// Emit (or EmitDurable) does: only each event's session id is read, to
// find the proxy that routed it, which decodes and checks every event.
func (r *Remote) EmitJSON(ctx context.Context, durable bool, objects [][]byte) error {
	sessions := make([]string, len(objects))
	// Only the session is read, to route the event: the proxy decodes and
	// checks the whole event. fastjson's parser, bounded in depth, reads
	// one an order of magnitude faster than a json.Unmarshal would.
	var p fastjson.Parser
	for i, b := range objects {
		v, err := p.ParseBytes(b)
		if err == nil && v.Type() != fastjson.TypeObject {
			err = errors.New("not a JSON object")
		}
		var sid []byte
		if err == nil {
			sid, err = optionalString(v, "sid")
		}
		if err != nil {
			return fmt.Errorf("decoding an audit event: %w", err)
		}
		sessions[i] = string(sid)
	}
	return r.sendObjects(ctx, durable, objects, sessions)
}

// optionalString reads the string field key of the object v, nil when
// it is absent; a value of another type is an error.
func optionalString(v *fastjson.Value, key string) ([]byte, error) {
	f := v.Get(key)
	if f == nil {
		return nil, nil
	}
	b, err := f.StringBytes()
	if err != nil {
		return nil, fmt.Errorf("field %q: %w", key, err)
	}
	return b, nil
}

// sendObjects sends encoded events, sessions[i] being the session of
// objects[i], in one request for each proxy that routed some of them
// (and one through any tunnel for sessions the agent does not know), in
// the order the batch first names them; each session's events keep
// their order.
func (r *Remote) sendObjects(ctx context.Context, durable bool, objects [][]byte, sessions []string) error {
	type group struct {
		proxy, session string
		req            *apiv1.AuditRequest
	}
	var groups []*group
	r.mu.RLock()
	for i, b := range objects {
		proxy := r.routeLocked(sessions[i])
		var g *group
		for _, x := range groups {
			if x.proxy == proxy {
				g = x
				break
			}
		}
		if g == nil {
			g = &group{proxy: proxy, session: sessions[i], req: &apiv1.AuditRequest{Durable: durable}}
			groups = append(groups, g)
		}
		g.req.EventsJson = append(g.req.EventsJson, b)
	}
	r.mu.RUnlock()
	for _, g := range groups {
		err := r.viaProxy(ctx, g.proxy, g.session, func(c apiv1.AgentClient) error {
			_, err := c.Audit(ctx, g.req)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

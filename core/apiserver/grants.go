package apiserver

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/keyway-dev/keyway/core/audit"
	"github.com/keyway-dev/keyway/sdk/identity"
)

// Grant lifetimes.
const (
	// GrantTTL is how long after routing a session the agent it was
	// routed to may ask for its decision and a db-client certificate
	// for it: the plugin asks at once, after reading the startup.
	GrantTTL = 2 * time.Minute
	// GrantTail is how long a session's grant outlives the session for
	// its audit events (its end, a cancel), which travel in batches.
	GrantTail = 10 * time.Minute
	// grantPrune is how often, at most, expired grants are swept.
	grantPrune = 10 * time.Second
)

// Grant is what the proxy allows the agent it routed a session to: the
// session's decision, a db-client certificate for the session's database
// and a database user the decision allowed, and the session's audit
// events. Nothing else is an agent's to ask for.
type Grant struct {
	SessionID string
	// Agent is the host name of the agent the session was routed to.
	Agent    string
	Database string
	// DBUser and DBName are the route of the client's certificate;
	// empty when the route leaves them open.
	DBUser string
	DBName string
	// Leaf is the client's certificate (DER), as the proxy verified it.
	Leaf []byte
	// User and SpiffeID are the client's identity.
	User     string
	SpiffeID string
}

// grantEntry is a grant and what happened to it since.
type grantEntry struct {
	Grant
	routed time.Time
	// ended is when the session's stream closed; zero while it lasts.
	ended time.Time
	// allowed are the database users an allowing decision named.
	allowed map[string]bool
}

// Grants holds the grants of the sessions this proxy routed to agents,
// in memory: checking one costs a map look-up, so a session opened per
// transaction pays no extra call. An agent's calls for a session must
// come back through a tunnel to this proxy, the agent's tunnel client
// sends them so.
type Grants struct {
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	mu        sync.Mutex
	m         map[string]*grantEntry
	lastPrune time.Time
}

// NewGrants returns an empty set of grants.
func NewGrants() *Grants { return &Grants{m: map[string]*grantEntry{}} }

func (g *Grants) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

// Add records the grant of a session just routed to an agent; end marks
// the session ended, when its stream closes.
func (g *Grants) Add(gr Grant) (end func()) {
	now := g.now()
	e := &grantEntry{Grant: gr, routed: now}
	g.mu.Lock()
	g.pruneLocked(now)
	g.m[gr.SessionID] = e
	g.mu.Unlock()
	return func() {
		g.mu.Lock()
		// The tail serves audit events only: the client's certificate
		// and the decisions are no longer needed.
		e.ended, e.Leaf, e.allowed = g.now(), nil, nil
		g.mu.Unlock()
	}
}

// pruneLocked drops grants past their tail, at most every grantPrune.
func (g *Grants) pruneLocked(now time.Time) {
	if now.Sub(g.lastPrune) < grantPrune {
		return
	}
	g.lastPrune = now
	for id, e := range g.m {
		if !e.ended.IsZero() && now.Sub(e.ended) > GrantTail {
			delete(g.m, id)
		}
	}
}

// Len is the number of grants held.
func (g *Grants) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.m)
}

// errNoGrants answers an agent where no grants are kept.
var errNoGrants = errors.New("this process routes no sessions to agents, so it answers no agent's session calls")

// fresh returns the grant of a session routed to agent that may still
// be decided and signed for; g.mu is held.
func (g *Grants) fresh(agent, sessionID string) (*grantEntry, error) {
	if g.m == nil {
		return nil, errNoGrants
	}
	if sessionID == "" {
		return nil, fmt.Errorf("the agent %s named no session; an agent is answered only for a session a proxy routed to it", agent)
	}
	e, ok := g.m[sessionID]
	if !ok || e.Agent != agent {
		return nil, fmt.Errorf("this proxy routed no session %s to the agent %s", sessionID, agent)
	}
	if !e.ended.IsZero() {
		return nil, fmt.Errorf("the session %s has ended", sessionID)
	}
	if g.now().Sub(e.routed) > GrantTTL {
		return nil, fmt.Errorf("the session %s was routed to the agent %s more than %s ago; its decision and certificate are asked for at its start", sessionID, agent, GrantTTL)
	}
	return e, nil
}

// grantAuthorize is what an agent asks to have decided.
type grantAuthorize struct {
	Agent, SessionID, Database, DBUser string
	Chain                              [][]byte
}

// checkAuthorize reports whether the agent may have the session decided
// as asked: the session's database, the client's own certificate and,
// when the certificate's route names one, its database user.
func (g *Grants) checkAuthorize(r grantAuthorize) error {
	if g == nil {
		return errNoGrants
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	e, err := g.fresh(r.Agent, r.SessionID)
	if err != nil {
		return err
	}
	switch {
	case r.Database != e.Database:
		return fmt.Errorf("the session %s is for the database %s, not %s", r.SessionID, e.Database, r.Database)
	case len(r.Chain) == 0 || !bytes.Equal(r.Chain[0], e.Leaf):
		return fmt.Errorf("the client certificate given for the session %s is not the one its client presented", r.SessionID)
	case e.DBUser != "" && r.DBUser != e.DBUser:
		return fmt.Errorf("the session %s is for the database user %s, not %s", r.SessionID, e.DBUser, r.DBUser)
	}
	return nil
}

// allow records that the session was allowed as dbUser.
func (g *Grants) allow(sessionID, dbUser string) {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if e, ok := g.m[sessionID]; ok {
		if e.allowed == nil {
			e.allowed = map[string]bool{}
		}
		e.allowed[dbUser] = true
	}
}

// checkSign returns the grant under which the agent may have a
// db-client certificate signed: a session routed to it, for that
// database, that the cluster allowed as that database user.
func (g *Grants) checkSign(agent, sessionID, database, dbUser string) (Grant, error) {
	if g == nil {
		return Grant{}, errNoGrants
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	e, err := g.fresh(agent, sessionID)
	if err != nil {
		return Grant{}, err
	}
	switch {
	case database != e.Database:
		return Grant{}, fmt.Errorf("the session %s is for the database %s, not %s", sessionID, e.Database, database)
	case !e.allowed[dbUser]:
		return Grant{}, fmt.Errorf("the session %s was not allowed to log in as the database user %s", sessionID, dbUser)
	}
	return e.Grant, nil
}

// agentEvents are the audit events an agent records: its sessions'.
var agentEvents = map[string]bool{
	audit.SessionStart: true, audit.SessionEnd: true, audit.SessionCancel: true,
	audit.SessionQuery: true, audit.SessionStatement: true,
}

// checkEvent reports whether the agent may record e, and fills what the
// grant knows: only the events of a session routed to it (while it
// lasts and GrantTail after), for the session's database and client.
// The target is the agent, whatever the event said.
func (g *Grants) checkEvent(agent string, e *audit.Event) error {
	if !agentEvents[e.Event] {
		return fmt.Errorf("an agent records only its sessions' db.session.* events, not %q", e.Event)
	}
	if g == nil {
		return errNoGrants
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if e.SessionID == "" {
		return fmt.Errorf("the %s event names no session", e.Event)
	}
	gr, ok := g.m[e.SessionID]
	if !ok || gr.Agent != agent || !gr.ended.IsZero() && g.now().Sub(gr.ended) > GrantTail {
		return fmt.Errorf("the %s event is for the session %s, which this proxy did not route to the agent %s (or it ended more than %s ago)", e.Event, e.SessionID, agent, GrantTail)
	}
	if err := fill(&e.DBService, gr.Database, "database", e); err != nil {
		return err
	}
	if err := fill(&e.User, gr.User, "user", e); err != nil {
		return err
	}
	if err := fill(&e.SpiffeID, gr.SpiffeID, "SPIFFE ID", e); err != nil {
		return err
	}
	e.Target = "agent/" + agent
	return nil
}

// fill sets an event's field from the grant when the event left it
// empty, and refuses a different value.
func fill(field *string, granted, what string, e *audit.Event) error {
	switch {
	case granted == "":
	case *field == "":
		*field = granted
	case *field != granted:
		return fmt.Errorf("the %s event of the session %s names the %s %q, but the session's is %q", e.Event, e.SessionID, what, *field, granted)
	}
	return nil
}

// ended reports whether a session's stream closed, or its grant is gone.
func (g *Grants) ended(sessionID string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	e, ok := g.m[sessionID]
	return !ok || !e.ended.IsZero()
}

// NewGrant is the grant of a session routed to an agent: its database,
// and the route and identity of the client's certificate chain (DER,
// leaf first), which the proxy verified before routing.
func NewGrant(agent, sessionID, database string, chain [][]byte) Grant {
	g := Grant{SessionID: sessionID, Agent: agent, Database: database}
	if len(chain) == 0 {
		return g
	}
	g.Leaf = chain[0]
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return g
	}
	id, err := identity.FromCertificate(leaf)
	if err != nil {
		return g
	}
	g.User, g.SpiffeID = id.Name, id.ID.String()
	if id.Route != nil {
		g.DBUser, g.DBName = id.Route.DBUser, id.Route.DBName
	}
	return g
}

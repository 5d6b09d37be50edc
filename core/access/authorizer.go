package access

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/keyway-dev/keyway/sdk"
	"github.com/keyway-dev/keyway/sdk/identity"
)

// Engine makes a decision for an action and an input document: the
// authorisation plugin.
type Engine interface {
	Authorize(ctx context.Context, action string, input []byte) (sdk.Decision, error)
}

// Authorizer answers access questions.
type Authorizer struct {
	Trust  *Trust
	Roles  RoleSource
	Engine func(ctx context.Context) (Engine, error)
	Now    func() time.Time
	// Observe, if set, receives each decision's action, outcome and
	// latency.
	Observe func(action string, allow bool, took time.Duration)
}

// DBRequest is a session's use of a database.
type DBRequest struct {
	Chain      [][]byte
	Database   sdk.Database
	DBUser     string
	DBName     string
	ClientAddr string
}

// Input is the document the authorisation plugin decides on; its shape
// is documented in docs/authz.md.
type Input struct {
	Action   string         `json:"action"`
	Identity InputIdentity  `json:"identity"`
	Roles    []Role         `json:"roles"`
	Database *InputDatabase `json:"database,omitempty"`
	Request  *InputRequest  `json:"request,omitempty"`
	Client   InputClient    `json:"client"`
	Time     string         `json:"time"`
}

// InputIdentity is who asks.
type InputIdentity struct {
	SpiffeID string      `json:"spiffe_id"`
	Kind     string      `json:"kind"`
	Name     string      `json:"name"`
	Roles    []string    `json:"roles"`
	Traits   InputTraits `json:"traits"`
}

// InputTraits are the identity's own lists that roles refer to.
type InputTraits struct {
	DBUsers []string `json:"db_users"`
	DBNames []string `json:"db_names"`
}

// InputDatabase is the database asked for.
type InputDatabase struct {
	Name     string            `json:"name"`
	Protocol string            `json:"protocol"`
	Labels   map[string]string `json:"labels"`
}

// InputRequest is what the session asks of the database.
type InputRequest struct {
	DBUser string `json:"db_user"`
	DBName string `json:"db_name"`
}

// InputClient is where the request comes from.
type InputClient struct {
	Addr string `json:"addr"`
}

// Identify verifies a client chain and reads its identity; the error is a
// sentence for the client.
func (a *Authorizer) Identify(ctx context.Context, chain [][]byte) (identity.Identity, error) {
	leaf, err := a.Trust.VerifyClient(ctx, chain)
	if err != nil {
		return identity.Identity{}, err
	}
	id, err := identity.FromCertificate(leaf)
	if err != nil {
		return identity.Identity{}, fmt.Errorf("the client certificate carries no keyway identity: %v", err)
	}
	return id, nil
}

// AuthorizeDB decides a database session. A denial's Message is a
// sentence for the client.
func (a *Authorizer) AuthorizeDB(ctx context.Context, req DBRequest) sdk.Authorization {
	id, err := a.Identify(ctx, req.Chain)
	if err != nil {
		return deny("keyway: " + err.Error())
	}
	return a.AuthorizeIdentity(ctx, id, req)
}

// AuthorizeIdentity decides a database session for a verified identity.
func (a *Authorizer) AuthorizeIdentity(ctx context.Context, id identity.Identity, req DBRequest) sdk.Authorization {
	dbName := req.DBName
	if dbName == "" {
		dbName = req.DBUser
	}
	in, err := a.input(ctx, "db.connect", id, req.ClientAddr)
	if err != nil {
		return deny("keyway could not read the cluster's roles, so access is denied: " + err.Error())
	}
	in.Database = &InputDatabase{Name: req.Database.Name, Protocol: req.Database.Protocol, Labels: nonNilMap(req.Database.Labels)}
	in.Request = &InputRequest{DBUser: req.DBUser, DBName: dbName}
	d, err := a.decide(ctx, in)
	if err != nil {
		return deny("keyway could not reach its authorisation plugin, so access is denied: " + err.Error())
	}
	out := sdk.Authorization{Allow: d.Allow, Reasons: d.Reasons}
	if !d.Allow {
		out.Message = "keyway: " + denialSentence(d, id.Name, req.DBUser, req.Database.Name)
	}
	return out
}

// AuthorizeAdmin decides whether the identity may administer the
// cluster (the admin action); a denial's Message is a sentence.
func (a *Authorizer) AuthorizeAdmin(ctx context.Context, id identity.Identity) (sdk.Authorization, error) {
	in, err := a.input(ctx, "admin", id, "")
	if err != nil {
		return sdk.Authorization{}, err
	}
	d, err := a.decide(ctx, in)
	if err != nil {
		return sdk.Authorization{}, err
	}
	out := sdk.Authorization{Allow: d.Allow, Reasons: d.Reasons}
	if !d.Allow {
		out.Message = "keyway: " + denialSentence(d, id.Name, "", "administration")
		if len(d.Reasons) == 0 {
			out.Message = fmt.Sprintf("keyway: no role of %s allows administration", id.Name)
		}
	}
	return out, nil
}

// CanList reports whether the identity may see a database.
func (a *Authorizer) CanList(ctx context.Context, id identity.Identity, db sdk.Database) (bool, error) {
	in, err := a.input(ctx, "db.list", id, "")
	if err != nil {
		return false, err
	}
	in.Database = &InputDatabase{Name: db.Name, Protocol: db.Protocol, Labels: nonNilMap(db.Labels)}
	d, err := a.decide(ctx, in)
	if err != nil {
		return false, err
	}
	return d.Allow, nil
}

// input builds the parts of the input document every action shares.
func (a *Authorizer) input(ctx context.Context, action string, id identity.Identity, clientAddr string) (Input, error) {
	roles, err := a.Roles.Roles(ctx)
	if err != nil {
		return Input{}, err
	}
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	return Input{
		Action: action,
		Identity: InputIdentity{
			SpiffeID: id.ID.String(), Kind: string(id.Kind), Name: id.Name, Roles: nonNil(id.Roles),
			Traits: InputTraits{DBUsers: nonNil(id.DBUsers), DBNames: nonNil(id.DBNames)},
		},
		Roles:  roles,
		Client: InputClient{Addr: clientAddr},
		Time:   now().UTC().Format(time.RFC3339),
	}, nil
}

func (a *Authorizer) decide(ctx context.Context, in Input) (sdk.Decision, error) {
	doc, err := json.Marshal(in)
	if err != nil {
		return sdk.Decision{}, fmt.Errorf("encoding the input document: %w", err)
	}
	engine, err := a.Engine(ctx)
	if err != nil {
		return sdk.Decision{}, err
	}
	start := time.Now()
	d, err := engine.Authorize(ctx, in.Action, doc)
	if a.Observe != nil {
		a.Observe(in.Action, err == nil && d.Allow, time.Since(start))
	}
	return d, err
}

// denialSentence picks the plugin's deny reason, or says nothing allowed.
func denialSentence(d sdk.Decision, user, dbUser, database string) string {
	var msgs []string
	for _, r := range d.Reasons {
		if r.Effect == "deny" && r.Message != "" {
			msgs = append(msgs, r.Message)
		}
	}
	if len(msgs) > 0 {
		return strings.Join(msgs, "; ")
	}
	return fmt.Sprintf("no role of %s allows db user %s on %s", user, dbUser, database)
}

func deny(msg string) sdk.Authorization {
	return sdk.Authorization{Allow: false, Message: msg, Reasons: []sdk.Reason{{Effect: "deny", Rule: "precondition", Message: msg}}}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

package server

import (
	"context"
	"fmt"
	"time"

	"github.com/keyway-dev/keyway/core/access"
	"github.com/keyway-dev/keyway/core/admin"
	"github.com/keyway-dev/keyway/core/apiserver"
	"github.com/keyway-dev/keyway/core/audit"
	"github.com/keyway-dev/keyway/sdk"
	"github.com/keyway-dev/keyway/sdk/identity"

	"github.com/keyway-dev/keyway/core/auth"
	"github.com/keyway-dev/keyway/core/authority"
)

// adminView is what the admin socket serves of a node.
type adminView struct {
	pluginsView
	auth    *auth.Service
	hostPin func(ctx context.Context) (string, error)
	api     *apiserver.Server
	// auditSearch searches the process's audit log; nil without one.
	auditSearch audit.Searcher
	// recordCA records rotations and signatures in the audit log; nil
	// without one.
	recordCA func(context.Context, audit.Event) error
	// rotations hears of phase changes made through the socket.
	rotations *rotationNotifier
}

// CA returns the running CA plugin, with its rotations and signatures
// recorded in the audit log.
func (v adminView) CA(ctx context.Context) (authority.CA, error) {
	ca, err := v.pluginsView.CA(ctx)
	if err != nil {
		return nil, err
	}
	if v.recordCA != nil {
		ca = AuditCA(ca, v.recordCA)
	}
	if v.rotations != nil {
		ca = notifyingCA{CA: ca, n: v.rotations}
	}
	return ca, nil
}

// CheckAccess decides, with the same engine as connections, what a user
// with their current roles and traits may do with a database.
func (v adminView) CheckAccess(ctx context.Context, req admin.CheckRequest) (sdk.Authorization, error) {
	if v.api == nil {
		return sdk.Authorization{}, admin.ErrNoAuthRole
	}
	u, err := v.auth.GetUser(ctx, req.User)
	if err != nil {
		return sdk.Authorization{}, err
	}
	id, err := identity.New(v.api.Cluster, identity.KindUser, u.Name)
	if err != nil {
		return sdk.Authorization{}, err
	}
	db, found := v.api.Databases.Get(ctx, req.Database)
	if !found {
		return sdk.Authorization{}, auth.WithKind(auth.ErrNotFound, fmt.Errorf("database %s is not registered in this cluster", req.Database))
	}
	return v.api.Authorizer.AuthorizeIdentity(ctx, identity.Identity{
		ID: id, Kind: identity.KindUser, Name: u.Name, Roles: u.Roles, DBUsers: u.DBUsers, DBNames: u.DBNames,
	}, access.DBRequest{Database: db, DBUser: req.DBUser, DBName: req.DBName}), nil
}

// Auth returns the auth role's records, nil without the role.
func (v adminView) Auth() *auth.Service { return v.auth }

// HostPin returns the active host authority's pin.
func (v adminView) HostPin(ctx context.Context) (string, error) { return v.hostPin(ctx) }

func pinOf(der []byte) (string, error) { return authority.Pin(der) }

// Process reports the process's open file limits.
func (v adminView) Process(ctx context.Context) admin.Process {
	p := processInfo()
	if v.api == nil || v.api.Proxies == nil {
		return p
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	set, _, err := v.api.Proxies.Current(ctx)
	if err != nil {
		return p
	}
	for _, px := range set {
		p.Proxies = append(p.Proxies, admin.ProxyStatus{Addr: px.Addr, HostID: px.HostID, Version: px.Version, Problem: px.Problem, Remote: px.Remote})
	}
	return p
}

package admin

import (
	"context"
	"fmt"

	"google.golang.org/grpc"

	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
)

// Register serves the whole admin API for src on reg, as the admin
// socket does: whoever reaches reg is the administrator.
func Register(reg grpc.ServiceRegistrar, src Source) {
	reg = intercepted{reg: reg, ic: statusErrors}
	registerRecords(reg, src)
	apiv1.RegisterBotsServer(reg, botsService{src: src})
	apiv1.RegisterAgentsServer(reg, agentsService{src: src})
	apiv1.RegisterHostServer(reg, hostService{src: src})
}

// RegisterRemote serves on reg, for src, the services that remote
// administrators may call through the proxy: users, roles, join tokens,
// db resources, locks, the audit log and access checks; never bots,
// agents' names, the plugins or the CA, which only the admin socket
// serves. Every call passes guard first, which decides whether it runs;
// guard must not be nil.
func RegisterRemote(reg grpc.ServiceRegistrar, src Source, guard grpc.UnaryServerInterceptor) {
	if guard == nil {
		panic("admin.RegisterRemote: the remote admin API needs a guard")
	}
	registerRecords(intercepted{reg: reg, ic: chain(guard, statusErrors)}, src)
}

// registerRecords registers the services of the cluster's records.
func registerRecords(reg grpc.ServiceRegistrar, src Source) {
	apiv1.RegisterUsersServer(reg, usersService{src: src})
	apiv1.RegisterRolesServer(reg, rolesService{src: src})
	apiv1.RegisterTokensServer(reg, tokensService{src: src})
	apiv1.RegisterDatabaseResourcesServer(reg, databasesService{src: src})
	apiv1.RegisterLocksServer(reg, locksService{src: src})
	apiv1.RegisterAuditServer(reg, auditService{src: src})
	apiv1.RegisterAccessServer(reg, accessService{src: src})
}

// intercepted registers services whose every method runs through ic,
// inside the interceptors of the server they are registered with. The
// admin API has unary methods only; a service with streams is refused,
// since its streams would bypass ic.
type intercepted struct {
	reg grpc.ServiceRegistrar
	ic  grpc.UnaryServerInterceptor
}

// RegisterService registers a copy of desc whose handlers pass ic.
func (r intercepted) RegisterService(desc *grpc.ServiceDesc, impl any) {
	if len(desc.Streams) > 0 {
		panic(fmt.Sprintf("admin: %s has streams, which the admin API's interceptors do not cover", desc.ServiceName))
	}
	d := *desc
	d.Methods = make([]grpc.MethodDesc, len(desc.Methods))
	for i, m := range desc.Methods {
		handler := m.Handler
		d.Methods[i] = grpc.MethodDesc{
			MethodName: m.MethodName,
			Handler: func(srv any, ctx context.Context, dec func(any) error, outer grpc.UnaryServerInterceptor) (any, error) {
				return handler(srv, ctx, dec, chain(outer, r.ic))
			},
		}
	}
	r.reg.RegisterService(&d, impl)
}

// chain runs outer, then inner, then the method; a nil outer is none.
func chain(outer, inner grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor {
	if outer == nil {
		return inner
	}
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		return outer(ctx, req, info, func(ctx context.Context, req any) (any, error) {
			return inner(ctx, req, info, handler)
		})
	}
}

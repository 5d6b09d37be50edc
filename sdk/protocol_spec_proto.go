package sdk

import (
	"context"

	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// specOf is the spec a protocol plugin declares, or the default one: the
// protocol of the plugin's own name.
func specOf(impl ProtocolPlugin) ProtocolSpec {
	var spec ProtocolSpec
	if s, ok := impl.(Specified); ok {
		spec = s.Spec()
	}
	if len(spec.Names) == 0 {
		spec.Names = []string{impl.Info().Name}
	}
	return spec
}

// SpecToProto encodes a spec for the wire.
func SpecToProto(s ProtocolSpec) *pluginv1.ProtocolSpec {
	out := &pluginv1.ProtocolSpec{
		Names: s.Names, OwnPort: s.OwnPort,
		Client: &pluginv1.ClientSpec{Command: s.Client.Command, Args: s.Client.Args, Env: s.Client.Env, Config: s.Client.Config, Install: s.Client.Install},
	}
	for _, p := range s.Preambles {
		out.Preambles = append(out.Preambles, &pluginv1.Preamble{
			Name: p.Name, Match: p.Match, Mask: p.Mask, Length: uint32(p.Length),
			Action: pluginv1.PreambleAction(p.Action), Reply: p.Reply,
			KeyTagOffset: uint32(p.KeyTagOffset),
		})
	}
	return out
}

// SpecFromProto decodes a spec from the wire.
func SpecFromProto(s *pluginv1.ProtocolSpec) ProtocolSpec {
	c := s.GetClient()
	out := ProtocolSpec{
		Names: s.GetNames(), OwnPort: s.GetOwnPort(),
		Client: ClientSpec{Command: c.GetCommand(), Args: c.GetArgs(), Env: c.GetEnv(), Config: c.GetConfig(), Install: c.GetInstall()},
	}
	for _, p := range s.GetPreambles() {
		out.Preambles = append(out.Preambles, Preamble{
			Name: p.GetName(), Match: p.GetMatch(), Mask: p.GetMask(), Length: int(p.GetLength()),
			Action: PreambleAction(p.GetAction()), Reply: p.GetReply(),
			KeyTagOffset: int(p.GetKeyTagOffset()),
		})
	}
	return out
}

// CheckDatabase runs the plugin's own health check of a database.
func (s *protocolServer) CheckDatabase(ctx context.Context, req *pluginv1.CheckDatabaseRequest) (*pluginv1.CheckDatabaseResponse, error) {
	checker, ok := s.impl.(DatabaseChecker)
	if !ok {
		return &pluginv1.CheckDatabaseResponse{Unsupported: true}, nil
	}
	db := databaseFromProto(req.GetDatabase())
	if db == nil {
		return &pluginv1.CheckDatabaseResponse{Problem: "the host named no database to check"}, nil
	}
	if err := checker.CheckDatabase(ctx, db); err != nil {
		return &pluginv1.CheckDatabaseResponse{Problem: err.Error()}, nil
	}
	return &pluginv1.CheckDatabaseResponse{}, nil
}

package server

import (
	"context"

	"github.com/keyway-dev/keyway/core/admin"
	"github.com/keyway-dev/keyway/core/authority"
	"github.com/keyway-dev/keyway/core/supervisor"
	"github.com/keyway-dev/keyway/sdk"
)

// pluginsView lists the supervisor's plugins for the admin socket, with
// each running protocol plugin's session counters.
type pluginsView struct {
	sup      *supervisor.Supervisor
	caPlugin string
}

// CA returns the running CA plugin.
func (v pluginsView) CA(ctx context.Context) (authority.CA, error) {
	return plugins{sup: v.sup, caName: v.caPlugin}.CA(ctx)
}

func (v pluginsView) Plugins(ctx context.Context) []admin.Plugin {
	var out []admin.Plugin
	for _, st := range v.sup.Status() {
		row := admin.Plugin{Status: st}
		if st.State == supervisor.StateRunning && st.Kind == sdk.KindProtocol.String() {
			v.addStats(ctx, &row)
		}
		out = append(out, row)
	}
	return out
}

func (v pluginsView) addStats(ctx context.Context, row *admin.Plugin) {
	st, err := protocolStats(ctx, v.sup, row.Name)
	if err != nil {
		return
	}
	total, active, in2, out := st.GetSessionsTotal(), st.GetSessionsActive(), st.GetBytesFromClient(), st.GetBytesToClient()
	row.Sessions, row.SessionsActive, row.BytesFromClient, row.BytesToClient = &total, &active, &in2, &out
}

package admin

import (
	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/audit"
)

// filterToProto encodes an audit search.
func filterToProto(f audit.Filter) *apiv1.SearchEventsRequest {
	return &apiv1.SearchEventsRequest{Type: f.Type, User: f.User, Db: f.DB, Since: timestamp(f.Since), Limit: int32(f.Limit)}
}

// filterFromProto decodes an audit search.
func filterFromProto(p *apiv1.SearchEventsRequest) audit.Filter {
	return audit.Filter{Type: p.GetType(), User: p.GetUser(), DB: p.GetDb(), Since: timeOf(p.GetSince()), Limit: int(p.GetLimit())}
}

// eventToProto encodes an audit event.
func eventToProto(e audit.Event) *apiv1.AuditEvent {
	out := &apiv1.AuditEvent{
		Event: e.Event, Code: e.Code, Time: timestamp(e.Time), Cluster: e.Cluster, Success: e.Success, Error: e.Error,
		SessionId: e.SessionID, Index: e.Index, User: e.User, SpiffeId: e.SpiffeID, ClientAddr: e.ClientAddr,
		DbService: e.DBService, DbProtocol: e.DBProtocol, DbUri: e.DBURI, DbUser: e.DBUser, DbName: e.DBName,
		Query: e.Query, Parameters: e.Parameters, Truncated: e.Truncated, RowsAffected: e.RowsAffected, CommandTag: e.CommandTag,
		DurationMs: e.DurationMS, BytesIn: e.BytesIn, BytesOut: e.BytesOut, Reason: e.Reason, Target: e.Target, CaPin: e.CAPin,
	}
	if e.GraceEnds != nil {
		out.GraceEnds = timestamp(*e.GraceEnds)
	}
	return out
}

// eventFromProto decodes an audit event.
func eventFromProto(p *apiv1.AuditEvent) audit.Event {
	e := audit.Event{
		Event: p.GetEvent(), Code: p.GetCode(), Time: timeOf(p.GetTime()), Cluster: p.GetCluster(), Success: p.GetSuccess(), Error: p.GetError(),
		SessionID: p.GetSessionId(), Index: p.GetIndex(), User: p.GetUser(), SpiffeID: p.GetSpiffeId(), ClientAddr: p.GetClientAddr(),
		DBService: p.GetDbService(), DBProtocol: p.GetDbProtocol(), DBURI: p.GetDbUri(), DBUser: p.GetDbUser(), DBName: p.GetDbName(),
		Query: p.GetQuery(), Parameters: p.GetParameters(), Truncated: p.GetTruncated(), RowsAffected: p.GetRowsAffected(), CommandTag: p.GetCommandTag(),
		DurationMS: p.GetDurationMs(), BytesIn: p.GetBytesIn(), BytesOut: p.GetBytesOut(), Reason: p.GetReason(), Target: p.GetTarget(), CAPin: p.GetCaPin(),
	}
	if p.GetGraceEnds() != nil {
		t := timeOf(p.GetGraceEnds())
		e.GraceEnds = &t
	}
	return e
}

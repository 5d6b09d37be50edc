package sdk

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/proto"

	"github.com/keyway-dev/keyway/sdk/handoff"
	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// protocolServer receives handed-off connections and runs the plugin's
// sessions.
type protocolServer struct {
	pluginv1.UnimplementedProtocolServer
	impl    ProtocolPlugin
	logger  hclog.Logger
	ctx     context.Context
	stats   counters
	metrics *Metrics
	// host is the core's service, nil until the plugin is configured.
	host      func() *hostClient
	relays    relays
	certs     servingCerts
	dataCerts dataCerts
	// dataChains remembers the proxies' chains that data connections
	// verified.
	dataChains verifiedChains
	live       liveSessions
}

func newProtocolServer(impl ProtocolPlugin, logger hclog.Logger, host func() *hostClient) *protocolServer {
	return &protocolServer{impl: impl, logger: logger, ctx: context.Background(), host: host, metrics: NewMetrics()}
}

// handoffWait bounds how long a handoff socket waits for its host.
const handoffWait = time.Minute

// OpenHandoff opens a handoff socket for the host that asks: it accepts
// that one host, within handoffWait, and is gone from the file system
// once the host is connected.
func (s *protocolServer) OpenHandoff(context.Context, *pluginv1.OpenHandoffRequest) (*pluginv1.OpenHandoffResponse, error) {
	ln, err := handoff.Listen()
	if err != nil {
		return nil, fmt.Errorf("opening handoff socket: %w", err)
	}
	if err := ln.SetDeadline(time.Now().Add(handoffWait)); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("opening handoff socket: %w", err)
	}
	go s.acceptHost(ln)
	return &pluginv1.OpenHandoffResponse{SocketPath: ln.Path(), ClientTls: true, DataTls: true, Spec: SpecToProto(specOf(s.impl))}, nil
}

func (s *protocolServer) Stats(context.Context, *pluginv1.StatsRequest) (*pluginv1.StatsResponse, error) {
	counters, histograms := s.metrics.snapshot()
	return &pluginv1.StatsResponse{
		SessionsTotal:   s.stats.total.Load(),
		SessionsActive:  s.stats.active.Load(),
		BytesFromClient: s.stats.fromClient.Load(),
		BytesToClient:   s.stats.toClient.Load(),
		Counters:        counters,
		Histograms:      histograms,
	}, nil
}

// acceptHost takes the one host that dials ln and serves what it hands.
func (s *protocolServer) acceptHost(ln *handoff.Listener) {
	r, err := ln.Accept()
	_ = ln.Close()
	if err != nil {
		s.logger.Warn("no host connected to the handoff socket", "error", err)
		return
	}
	s.receive(r)
}

// receive turns each handed-off descriptor into a session.
func (s *protocolServer) receive(r *handoff.Receiver) {
	defer func() { _ = r.Close() }()
	for {
		f, payload, err := r.Receive()
		if err != nil {
			if err != handoff.ErrNoDescriptor {
				return
			}
			s.logger.Warn("dropping a handoff packet without a connection")
			continue
		}
		conn, err := net.FileConn(f)
		_ = f.Close()
		if err != nil {
			s.logger.Error("cannot use handed-off connection", "error", err)
			continue
		}
		var meta pluginv1.Session
		if err := proto.Unmarshal(payload, &meta); err != nil {
			s.logger.Error("cannot decode session metadata", "error", err)
			_ = conn.Close()
			continue
		}
		go s.serve(conn, &meta)
	}
}

func (s *protocolServer) serve(conn net.Conn, meta *pluginv1.Session) {
	switch {
	case meta.GetRelayFor() != "":
		s.relays.deliver(meta.GetRelayFor(), conn)
		return
	case meta.GetClientTls():
		s.serveClientTLS(conn, meta)
		return
	case meta.GetDataTls() != nil:
		s.serveDataTLS(conn, meta)
		return
	}
	if len(meta.GetPrefix()) > 0 {
		conn = &prefixConn{Conn: conn, prefix: meta.GetPrefix()}
	}
	s.run(s.newSession(conn, meta))
}

// newSession turns a handoff's metadata into the session the plugin sees.
func (s *protocolServer) newSession(conn net.Conn, meta *pluginv1.Session) *Session {
	sess := &Session{
		ID:         meta.GetId(),
		Listener:   meta.GetListener(),
		ClientAddr: meta.GetClientAddr(),
		LocalAddr:  meta.GetLocalAddr(),
		AcceptedAt: time.Unix(0, meta.GetAcceptedUnixNano()),
		Conn:       conn,
		Metrics:    s.metrics,
		counters:   &s.stats,
		end:        newEnding(time.Now()),

		ClientCertificates: meta.GetClientCertificates(),
		Database:           databaseFromProto(meta.GetDatabase()),
		Preface:            meta.GetPreface(),
		KeyTag:             meta.GetKeyTag(),
	}
	if r := meta.GetRefusal(); r != nil {
		sess.Refusal = &Refusal{Kind: r.GetKind(), Message: r.GetMessage()}
	}
	return sess
}

// run serves one session with the plugin and closes its connection.
func (s *protocolServer) run(sess *Session) {
	conn := sess.Conn
	s.stats.total.Add(1)
	s.stats.active.Add(1)
	s.live.add(sess)
	defer func() {
		s.live.remove(sess)
		// Ending after the session returned stops its idle watch.
		sess.End(EndReason{})
		s.stats.active.Add(^uint64(0))
		_ = conn.Close()
	}()
	s.impl.ServeSession(s.ctx, sess)
}

// EndSessions ends the named sessions this plugin serves with the
// reason given; the plugin tells each client why.
func (s *protocolServer) EndSessions(_ context.Context, req *pluginv1.EndSessionsRequest) (*pluginv1.EndSessionsResponse, error) {
	ended := s.live.end(req.GetSessionIds(), EndReason{Kind: req.GetKind(), Message: req.GetMessage()})
	return &pluginv1.EndSessionsResponse{Ended: ended}, nil
}

// ActiveSessions lists the sessions this plugin serves now.
func (s *protocolServer) ActiveSessions(context.Context, *pluginv1.ActiveSessionsRequest) (*pluginv1.ActiveSessionsResponse, error) {
	return &pluginv1.ActiveSessionsResponse{SessionIds: s.live.ids()}, nil
}

func databaseFromProto(d *pluginv1.Database) *Database {
	if d == nil {
		return nil
	}
	t := d.GetTrust()
	db := &Database{
		Name: d.GetName(), Protocol: d.GetProtocol(), URI: d.GetUri(), Labels: d.GetLabels(),
		Trust: ServerTrust{Mode: t.GetMode(), CAPEM: t.GetCaPem(), SystemPool: t.GetSystemPool(), ServerName: t.GetServerName()},
	}
	if p := d.GetPool(); p != nil {
		db.Pool = &DatabasePool{Mode: p.GetMode(), MaxIdle: int(p.GetMaxIdle()), IdleTimeout: time.Duration(p.GetIdleTimeoutMs()) * time.Millisecond}
	}
	return db
}

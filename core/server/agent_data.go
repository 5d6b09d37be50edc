package server

import (
	"context"
	"crypto"
	"crypto/x509"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyway-dev/keyway/core/agent"
	"github.com/keyway-dev/keyway/core/authority"
	"github.com/keyway-dev/keyway/core/supervisor"
	"github.com/keyway-dev/keyway/core/tunnel"
	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// dataHandshakeTime bounds a handed data connection's TLS handshake.
const dataHandshakeTime = 10 * time.Second

// agentData hands an agent's data connections to the protocol plugin
// that serves its databases before TLS (agent.DataHandoff): the plugin
// completes TLS as the agent, and a session from the proxy is decrypted
// once on this host, in the plugin, instead of in the core and again in
// the plugin. It answers the plugin's Host calls about them: the
// agent's certificate, the session a header names, and their ends.
type agentData struct {
	plugins  dataPlugins
	registry *agent.Registry
	identity *agent.CurrentIdentity
	logger   hclog.Logger

	mu sync.Mutex
	// slots are the handed connections no session came on yet.
	slots map[string]*handedSlot
	// ends end the routes of the sessions plugins serve from them.
	ends map[string]handedEnd
	// watched are the plugin processes whose end is watched: it ends
	// what they held.
	watched map[<-chan struct{}]bool
}

// handedSlot is a slot and the plugin process that holds it.
type handedSlot struct {
	slot *agent.DataSlot
	gone <-chan struct{}
}

// handedEnd ends a session's route; from is the slot it came on, whose
// plugin process's end also ends it.
type handedEnd struct {
	end  func()
	from *handedSlot
}

// dataPlugins finds protocol plugins by protocol and by name.
type dataPlugins interface {
	protocolPlugins
	Instance(name string) (*supervisor.Instance, error)
}

func newAgentData(plugins dataPlugins, registry *agent.Registry, identity *agent.CurrentIdentity, logger hclog.Logger) *agentData {
	return &agentData{
		plugins: plugins, registry: registry, identity: identity, logger: logger,
		slots: map[string]*handedSlot{}, ends: map[string]handedEnd{}, watched: map[<-chan struct{}]bool{},
	}
}

// HandData passes raw to the plugin of the one protocol the agent's
// databases speak. An agent serving several protocols completes its data
// connections' TLS in the core, which hands each session to its plugin.
func (d *agentData) HandData(ctx context.Context, raw *net.TCPConn, slot *agent.DataSlot) (bool, error) {
	protocol, ok := d.protocol()
	if !ok {
		return false, nil
	}
	in, err := d.plugins.Protocol(protocol)
	if err != nil {
		return false, nil
	}
	// The slot is known before the plugin can answer for it.
	d.mu.Lock()
	h := &handedSlot{slot: slot}
	d.slots[slot.ID] = h
	d.mu.Unlock()
	gone, err := in.HandoffDataTLS(ctx, raw, &pluginv1.Session{DataTls: &pluginv1.DataTLS{
		Slot: slot.ID, ServerName: slot.ServerName, Alpn: tunnel.ALPNData,
		HandshakeDeadlineUnixNano: time.Now().Add(dataHandshakeTime).UnixNano(),
	}})
	if gone == nil {
		d.take(slot.ID)
		return false, err
	}
	// The plugin may have answered for the slot already: h is shared with
	// the route of its session.
	d.mu.Lock()
	h.gone = gone
	d.watchLocked(gone)
	d.mu.Unlock()
	return true, err
}

// watchLocked ends, once the plugin process that gone belongs to
// stopped, the slots and routes it held, which it can no longer
// release; d.mu is held.
func (d *agentData) watchLocked(gone <-chan struct{}) {
	if d.watched[gone] {
		return
	}
	d.watched[gone] = true
	go func() {
		<-gone
		d.mu.Lock()
		var slots []*agent.DataSlot
		var ends []func()
		for id, h := range d.slots {
			if h.gone == gone {
				slots = append(slots, h.slot)
				delete(d.slots, id)
			}
		}
		for id, h := range d.ends {
			if h.from.gone == gone {
				ends = append(ends, h.end)
				delete(d.ends, id)
			}
		}
		delete(d.watched, gone)
		d.mu.Unlock()
		for _, s := range slots {
			s.Lost()
		}
		for _, end := range ends {
			end()
		}
	}()
}

// protocol is the protocol every database of the agent speaks; false
// when it serves none or several.
func (d *agentData) protocol() (string, bool) {
	var protocol string
	for _, db := range d.registry.List() {
		switch {
		case protocol == "":
			protocol = db.Protocol
		case db.Protocol != protocol:
			return "", false
		}
	}
	return protocol, protocol != ""
}

// take removes and returns a slot; nil when it is not (or no longer)
// pending.
func (d *agentData) take(id string) *handedSlot {
	d.mu.Lock()
	defer d.mu.Unlock()
	h := d.slots[id]
	delete(d.slots, id)
	return h
}

// admit answers a plugin that read a session header on a handed data
// connection: the session, when the plugin serves its database; else the
// core serves it (another protocol, or the proxy asking to end sessions)
// through a socket pair whose other end goes to the plugin to relay.
func (d *agentData) admit(ctx context.Context, plugin string, req *pluginv1.AdmitRequest) (*pluginv1.AdmitResponse, error) {
	h := d.take(req.GetDataSlot())
	if h == nil {
		return nil, status.Error(codes.NotFound, "no data connection was handed with that slot")
	}
	slot := h.slot
	meta, err := slot.Open(ctx, req.GetServerCertificates(), req.GetSessionHeader())
	if err != nil {
		d.logger.Warn("refusing a session on a data connection", "error", err)
		return nil, status.Error(codes.PermissionDenied, err.Error())
	}
	if d.serves(plugin, meta) {
		end := slot.Bind(meta.GetId())
		d.mu.Lock()
		d.ends[meta.GetId()] = handedEnd{end: end, from: h}
		d.mu.Unlock()
		return &pluginv1.AdmitResponse{Session: meta}, nil
	}
	if err := d.relay(ctx, plugin, slot, meta); err != nil {
		return nil, status.Errorf(codes.Unavailable, "serving the session in the agent's core: %v", err)
	}
	return &pluginv1.AdmitResponse{Relay: true}, nil
}

// serves reports whether the plugin named plugin serves the session
// itself.
func (d *agentData) serves(plugin string, meta *pluginv1.Session) bool {
	if meta.GetEndSessions() != nil {
		return false
	}
	protocol := meta.GetDatabase().GetProtocol()
	if protocol == "" {
		protocol = meta.GetProtocol()
	}
	in, err := d.plugins.Protocol(protocol)
	return err == nil && in.Name() == plugin
}

// relay serves the session through the core, as one from a tunnel
// stream, on a socket pair whose other end the plugin relays to.
func (d *agentData) relay(ctx context.Context, plugin string, slot *agent.DataSlot, meta *pluginv1.Session) error {
	in, err := d.plugins.Instance(plugin)
	if err != nil {
		return err
	}
	local, err := handToPlugin(ctx, in, &pluginv1.Session{Id: meta.GetId(), RelayFor: meta.GetId()})
	if err != nil {
		return err
	}
	// The plugin's call waits for this answer, not for the session.
	go slot.Deliver(context.WithoutCancel(ctx), local, meta)
	return nil
}

// released ends a handed connection's slot, or the route of the session
// it carried.
func (d *agentData) released(req *pluginv1.ReleasedRequest) {
	if id := req.GetDataSlot(); id != "" {
		if h := d.take(id); h != nil {
			if req.GetError() != "" {
				d.logger.Debug("a data connection ended before a session", "error", req.GetError())
			}
			h.slot.Lost()
		}
	}
	if id := req.GetSessionId(); id != "" {
		d.mu.Lock()
		h, ok := d.ends[id]
		delete(d.ends, id)
		d.mu.Unlock()
		if ok {
			h.end()
		}
	}
}

// certificate is the agent's certificate and key, and the authorities a
// proxy's certificate must chain to.
func (d *agentData) certificate() (*pluginv1.DataCertificateResponse, error) {
	id := d.identity.Get()
	signer, ok := id.Cert.PrivateKey.(crypto.Signer)
	if !ok || len(id.Cert.Certificate) == 0 {
		return nil, status.Error(codes.Internal, "the agent's key cannot sign")
	}
	leaf := id.Cert.Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(id.Cert.Certificate[0]); err != nil {
			return nil, status.Errorf(codes.Internal, "the agent's certificate: %v", err)
		}
	}
	keyPEM, err := authority.KeyPEM(signer)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "encoding the agent's key: %v", err)
	}
	return &pluginv1.DataCertificateResponse{
		CertificatePem: authority.CertsPEM(id.Cert.Certificate...), KeyPem: keyPEM,
		NotAfterUnix: leaf.NotAfter.Unix(), RootsPem: authority.CertsPEM(id.HostCAs...),
	}, nil
}

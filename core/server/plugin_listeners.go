package server

import (
	"context"
	"fmt"
	"net"
	"time"

	metrics "github.com/armon/go-metrics"

	"github.com/keyway-dev/keyway/core/listener"
)

// pluginListeners are the config's listener blocks: ports whose
// connections go straight to a protocol plugin, in any role.
type pluginListeners struct {
	ls  []*listener.Listener
	lns []net.Listener
	// protocols are the listeners' protocols, for the log.
	protocols []string
	n         *node
}

// newPluginListeners builds the listeners on the sockets bound at start;
// it runs after the plugins started, since each listener hands its
// connections to a running plugin.
func newPluginListeners(n *node, lns []net.Listener) (*pluginListeners, error) {
	p := &pluginListeners{lns: lns, n: n}
	for _, lc := range n.cfg.Listeners {
		in, err := n.sup.Protocol(lc.Protocol)
		if err != nil {
			return nil, fmt.Errorf("listener %q: %w", lc.Name, err)
		}
		p.ls = append(p.ls, &listener.Listener{Name: lc.Name, Target: in, Logger: n.logger.Named("listener"), Metrics: n.metrics, HandoffTimeout: 10 * time.Second})
		p.protocols = append(p.protocols, lc.Protocol)
	}
	return p, nil
}

// Run serves every listener until ctx ends, then closes their sockets.
// A listener that stops serving before ends the process with its error.
func (p *pluginListeners) Run(ctx context.Context) error {
	if len(p.ls) == 0 {
		<-ctx.Done()
		return nil
	}
	served := make(chan error, len(p.ls))
	for i, l := range p.ls {
		go func() { served <- l.Serve(p.lns[i]) }()
		p.n.logger.Info("listening", "listener", l.Name, "address", p.lns[i].Addr().String(), "protocol", p.protocols[i])
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-served:
		err = fmt.Errorf("a listener stopped serving: %w", orClosed(err))
	}
	closeAll(p.lns)
	return err
}

// ready fails while a listener cannot accept connections for want of
// descriptors or memory.
func (p *pluginListeners) ready() error {
	for _, l := range p.ls {
		if l.Saturated() {
			return fmt.Errorf("listener %s %s", l.Name, acceptProblem)
		}
	}
	return nil
}

// report sets, for each listener, whether it cannot accept for want of
// descriptors.
func (p *pluginListeners) report(m *metrics.Metrics) {
	for _, l := range p.ls {
		setSaturated(m, "listener "+l.Name, l.Saturated())
	}
}

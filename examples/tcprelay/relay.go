package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/keyway-dev/keyway/sdk"
)

// relay is the plugin.
type relay struct {
	mu  sync.RWMutex
	cfg settings
}

// settings is the applied configuration.
type settings struct {
	upstream    string
	dialTimeout time.Duration
	tls         *tls.Config
}

func newRelay() *relay { return &relay{} }

func (*relay) Info() sdk.Info {
	return sdk.Info{Name: "tcprelay", Kind: sdk.KindProtocol, Version: "0.1.0"}
}

func (*relay) ConfigSchema() sdk.Schema {
	return sdk.Schema{
		Attributes: []sdk.Attribute{
			{Name: "upstream", Type: sdk.TypeString, Required: true, Description: "HOST:PORT to relay to"},
			{Name: "dial_timeout", Type: sdk.TypeString, Description: "how long to wait for the upstream, e.g. 5s"},
		},
		Blocks: []sdk.Block{{
			Name:        "tls",
			Description: "terminate TLS from clients with this certificate",
			Body: sdk.Schema{Attributes: []sdk.Attribute{
				{Name: "cert_file", Type: sdk.TypeString, Required: true},
				{Name: "key_file", Type: sdk.TypeString, Required: true},
			}},
		}},
	}
}

// config mirrors the schema as JSON.
type config struct {
	Upstream    string  `json:"upstream"`
	DialTimeout *string `json:"dial_timeout"`
	TLS         *struct {
		CertFile string `json:"cert_file"`
		KeyFile  string `json:"key_file"`
	} `json:"tls"`
}

func (r *relay) Configure(_ context.Context, req sdk.ConfigureRequest) error {
	var c config
	if err := req.Decode(&c); err != nil {
		return err
	}
	var diags sdk.Diagnostics
	s := settings{upstream: c.Upstream, dialTimeout: 5 * time.Second}
	if _, _, err := net.SplitHostPort(c.Upstream); err != nil {
		diags.Add("upstream", fmt.Sprintf("%q is not HOST:PORT", c.Upstream), err.Error())
	}
	if c.DialTimeout != nil {
		d, err := time.ParseDuration(*c.DialTimeout)
		if err != nil || d <= 0 {
			diags.Add("dial_timeout", fmt.Sprintf("%q is not a positive duration such as 5s", *c.DialTimeout), "")
		}
		s.dialTimeout = d
	}
	if c.TLS != nil {
		cert, err := tls.LoadX509KeyPair(c.TLS.CertFile, c.TLS.KeyFile)
		if err != nil {
			diags.Add("tls.cert_file", "cannot load the TLS certificate and key", err.Error())
		} else {
			s.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		}
	}
	if err := diags.Err(); err != nil {
		return err
	}
	r.mu.Lock()
	r.cfg = s
	r.mu.Unlock()
	return nil
}

func (*relay) Health(context.Context) error { return nil }

// ServeSession relays one client to the upstream until either side
// closes.
func (r *relay) ServeSession(ctx context.Context, s *sdk.Session) {
	r.mu.RLock()
	cfg := r.cfg
	r.mu.RUnlock()
	client := s.Conn
	if cfg.tls != nil {
		tc := tls.Server(client, cfg.tls)
		hsCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := tc.HandshakeContext(hsCtx)
		cancel()
		if err != nil {
			return
		}
		client = tc
		defer func() { _ = tc.Close() }()
	}
	d := net.Dialer{Timeout: cfg.dialTimeout}
	upstream, err := d.DialContext(ctx, "tcp", cfg.upstream)
	if err != nil {
		return
	}
	defer func() { _ = upstream.Close() }()

	var wg sync.WaitGroup
	wg.Go(func() {
		n, _ := io.Copy(upstream, client)
		s.CountFromClient(int(n))
		sdk.CloseWrite(upstream)
	})
	n, _ := io.Copy(client, upstream)
	s.CountToClient(int(n))
	sdk.CloseWrite(client)
	wg.Wait()
}

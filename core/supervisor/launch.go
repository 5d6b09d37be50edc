package supervisor

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/hcl/v2"
	"google.golang.org/grpc"

	"github.com/keyway-dev/keyway/core/config"
	"github.com/keyway-dev/keyway/core/gctarget"
	"github.com/keyway-dev/keyway/sdk"
	"github.com/keyway-dev/keyway/sdk/auditring"
	"github.com/keyway-dev/keyway/sdk/handoff"
	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// Info is what a running plugin reported about itself.
type Info struct {
	Name       string
	Kind       sdk.Kind
	Version    string
	APIVersion uint32
	// Spec is what a protocol plugin declared: the protocols it serves
	// and how their clients reach the proxy. Nil for other kinds.
	Spec *sdk.ProtocolSpec
}

// process is one launched plugin process.
type process struct {
	client *plugin.Client
	conn   *Conn
	info   Info
	pid    int
	// kill kills the plugin's process group (see pluginCommand).
	kill context.CancelFunc
	// sender hands connections to a protocol plugin.
	sender *handoff.Sender
	// clientTLS is set when the protocol plugin completes clients' TLS
	// itself.
	clientTLS bool
	// dataTLS is set when it completes the TLS of an agent's data
	// connections itself (Session.data_tls).
	dataTLS bool
	// socketDir holds the plugin's go-plugin socket; removed once it
	// stopped.
	socketDir string
	// gone is closed once the process stopped.
	gone     chan struct{}
	goneOnce sync.Once
	// auditDone is closed once every event the plugin wrote into its
	// audit pipe has been recorded, after the plugin exited.
	auditDone chan struct{}
}

// ConfigError carries HCL diagnostics about a plugin's configuration.
type ConfigError struct {
	Diags hcl.Diagnostics
}

func (e *ConfigError) Error() string { return config.FormatDiagnostics(e.Diags) }

// launchEnv is what a launch needs from its supervisor.
type launchEnv struct {
	logger      hclog.Logger
	clusterName string
	dataDir     string
	// timeout bounds one launch's configuration, after the handshake.
	timeout time.Duration
	// startTimeout bounds the handshake of plugins whose Spec sets none.
	startTimeout time.Duration
	host         HostBackend
	auditParams  uint32
	auditEvents  string
}

// launch starts a plugin process and configures it. On any error the
// process is killed before launch returns.
func launch(ctx context.Context, spec Spec, env launchEnv) (_ *process, err error) {
	var secure *plugin.SecureConfig
	if !spec.Builtin {
		sum, err := verifyChecksum(spec.Path, spec.SHA256)
		if err != nil {
			return nil, err
		}
		secure = &plugin.SecureConfig{Checksum: sum, Hash: sha256.New()}
	}
	logger := fixedName{env.logger.Named(spec.Name)}
	logger.SetLevel(spec.LogLevel)

	// go-plugin's socket goes into a directory of this process's own,
	// removed when it stops, even by SIGKILL, rather than into the
	// temporary directory, where a killed plugin would leave it.
	socketDir, err := os.MkdirTemp("", "keyway-plugin-")
	if err != nil {
		return nil, fmt.Errorf("plugin %q: creating its socket directory: %w", spec.Name, err)
	}
	cmd, kill := pluginCommand(spec.Path, spec.Args...)
	cmd.Env = append(gctarget.Environ(os.Environ()),
		sdk.EnvLogLevel+"="+strings.ToLower(spec.LogLevel.String()),
		plugin.EnvUnixSocketDir+"="+socketDir)
	auditDone := make(chan struct{})
	// pluginEnd is the plugin's end of its audit pipe, which keyway's copy
	// must not keep open past the launch: the reader ends when every copy
	// is closed.
	var pluginEnd *os.File
	if env.host != nil {
		// The plugin writes its audit events into this socket; what it
		// wrote is read and recorded even after it is killed.
		var pipe net.Conn
		pipe, pluginEnd, err = newAuditPipe()
		if err != nil {
			_ = os.RemoveAll(socketDir)
			return nil, fmt.Errorf("plugin %q: %w", spec.Name, err)
		}
		// Where it can, the plugin writes them into shared memory
		// instead, and the socket only wakes the reader.
		ringMem, ringFile, ringErr := auditring.Create(auditring.DefaultCapacity)
		if ringErr != nil {
			logger.Debug("the plugin's audit events go through its audit pipe", "reason", ringErr)
		}
		go func() {
			defer close(auditDone)
			readAuditPipe(pipe, ringMem, env.host, logger)
			if ringMem != nil {
				_ = auditring.Unmap(ringMem)
			}
		}()
		// The child has its own copy once started; without ours, the
		// reader sees the end of the pipe when the child exits.
		defer func() { _ = pluginEnd.Close() }()
		cmd.ExtraFiles = []*os.File{pluginEnd}
		cmd.Env = append(cmd.Env, sdk.EnvAuditFD+"=3")
		if ringFile != nil {
			defer func() { _ = ringFile.Close() }()
			cmd.ExtraFiles = append(cmd.ExtraFiles, ringFile)
			cmd.Env = append(cmd.Env, sdk.EnvAuditRingFD+"=4")
		}
	}
	startTimeout := cmp.Or(spec.StartTimeout, env.startTimeout, env.timeout)
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake(),
		Plugins:          plugin.PluginSet{sdk.PluginSetName: hostPlugin{}},
		Cmd:              cmd,
		SecureConfig:     secure,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		GRPCDialOptions:  sdk.LinkDialOptions(),
		Logger:           logger,
		Stderr:           io.Discard,
		StartTimeout:     startTimeout,
		SkipHostEnv:      true,
	})
	if env.host == nil {
		close(auditDone)
	}
	p := &process{client: client, kill: kill, socketDir: socketDir, auditDone: auditDone, gone: make(chan struct{})}
	defer func() {
		if err != nil {
			// The plugin may be healthy (its configuration was refused)
			// or stuck; either way it goes at once, with its group.
			if pluginEnd != nil {
				_ = pluginEnd.Close()
			}
			p.stop(0, logger)
		}
	}()
	// A launch abandoned by its caller (keyway is stopping) kills the
	// plugin, which also ends go-plugin's wait for the handshake.
	abandon := context.AfterFunc(ctx, kill)
	defer abandon()
	begin := time.Now()
	rpc, err := client.Client()
	if err != nil {
		return nil, startError(ctx, spec, startTimeout, time.Since(begin), err)
	}
	raw, err := rpc.Dispense(sdk.PluginSetName)
	if err != nil {
		return nil, fmt.Errorf("connecting to plugin %q: %w", spec.Name, err)
	}
	p.conn = raw.(*Conn)
	if rc := client.ReattachConfig(); rc != nil && rc.Pid != 0 {
		p.pid = rc.Pid
	}
	cctx, cancel := context.WithTimeout(ctx, env.timeout)
	defer cancel()
	if p.info, err = fingerprint(cctx, spec, p.conn); err != nil {
		return nil, err
	}
	if err := configure(cctx, spec, p, env, logger); err != nil {
		return nil, err
	}
	if p.info.Kind == sdk.KindProtocol {
		resp, err := p.conn.Protocol.OpenHandoff(cctx, &pluginv1.OpenHandoffRequest{})
		if err != nil {
			return nil, fmt.Errorf("opening the handoff socket of plugin %q: %w", spec.Name, err)
		}
		if p.sender, err = handoff.Dial(resp.GetSocketPath()); err != nil {
			return nil, fmt.Errorf("plugin %q: %w", spec.Name, err)
		}
		p.clientTLS = resp.GetClientTls()
		p.dataTLS = resp.GetDataTls()
		if p.info.Spec, err = protocolSpec(spec.Name, p.info, resp.GetSpec()); err != nil {
			return nil, err
		}
	}
	if !abandon() {
		// The caller gave up just now and the plugin has been killed.
		return nil, fmt.Errorf("plugin %q was killed because keyway is stopping: %w", spec.Name, context.Cause(ctx))
	}
	return p, nil
}

// startError explains why a plugin did not complete go-plugin's handshake.
func startError(ctx context.Context, spec Spec, timeout, took time.Duration, err error) error {
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("plugin %q was still starting when keyway was asked to stop, so keyway killed it: %w", spec.Name, context.Cause(ctx))
	case took >= timeout:
		return fmt.Errorf("plugin %q (%s) did not complete its handshake within %s (it never printed its connection line on standard output), so keyway killed it and its process group; raise start_timeout in its plugin block if it is only slow: %w", spec.Name, spec.Path, timeout, err)
	}
	return fmt.Errorf("starting plugin %q (%s): %w", spec.Name, spec.Path, err)
}

// fingerprint asks the plugin who it is and checks it against the spec.
func fingerprint(ctx context.Context, spec Spec, conn *Conn) (Info, error) {
	resp, err := conn.Base.GetInfo(ctx, &pluginv1.GetInfoRequest{})
	if err != nil {
		return Info{}, fmt.Errorf("asking plugin %q for its info: %w", spec.Name, err)
	}
	info := Info{Name: resp.GetName(), Kind: sdk.Kind(resp.GetKind()), Version: resp.GetPluginVersion()}
	if spec.Kind != sdk.KindUnknown && info.Kind != spec.Kind {
		return Info{}, fmt.Errorf("plugin %q is a %s plugin, but it is used as a %s plugin", spec.Name, info.Kind, spec.Kind)
	}
	if info.APIVersion, err = negotiate(spec.Name, info.Kind, resp.GetApiVersions()); err != nil {
		return Info{}, err
	}
	return info, nil
}

// configure decodes the plugin's block against its schema and applies it.
func configure(ctx context.Context, spec Spec, p *process, env launchEnv, logger hclog.Logger) error {
	schema, err := p.conn.Base.GetConfigSchema(ctx, &pluginv1.GetConfigSchemaRequest{})
	if err != nil {
		return fmt.Errorf("asking plugin %q for its configuration schema: %w", spec.Name, err)
	}
	cfgJSON, diags := spec.Block.DecodePluginConfig(schema.GetSchema())
	if diags.HasErrors() {
		return &ConfigError{Diags: diags}
	}
	brokerID := p.conn.broker.NextId()
	go p.conn.broker.AcceptAndServe(brokerID, func(opts []grpc.ServerOption) *grpc.Server {
		s := grpc.NewServer(append(opts, sdk.LinkServerOptions()...)...)
		pluginv1.RegisterHostServer(s, &hostService{logger: logger, backend: env.host, plugin: spec.Name})
		return s
	})
	dataDir := ""
	if env.dataDir != "" {
		dataDir = env.dataDir + "/plugins/" + spec.Name
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return fmt.Errorf("creating data directory of plugin %q: %w", spec.Name, err)
		}
	}
	resp, err := p.conn.Base.SetConfig(ctx, &pluginv1.SetConfigRequest{
		ConfigJson:   cfgJSON,
		ApiVersion:   p.info.APIVersion,
		HostBrokerId: brokerID,
		ClusterName:  env.clusterName,
		DataDir:      dataDir,

		AuditMaxParameterBytes: env.auditParams,
		AuditDbEvents:          env.auditEvents,
	})
	if err != nil {
		return fmt.Errorf("configuring plugin %q: %w", spec.Name, err)
	}
	for _, d := range resp.GetDiagnostics() {
		rng := spec.Block.PathRange(d.GetPath())
		detail := d.GetSummary()
		if d.GetDetail() != "" {
			detail += " (" + d.GetDetail() + ")"
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Invalid configuration for plugin %q", spec.Name),
			Detail:   strings.TrimSpace(pathPrefix(d.GetPath()) + detail),
			Subject:  &rng,
		})
	}
	if diags.HasErrors() {
		return &ConfigError{Diags: diags}
	}
	return nil
}

func pathPrefix(path string) string {
	if path == "" {
		return ""
	}
	return path + ": "
}

// verifyChecksum compares a file's sha256 with the configured one and
// names both when they differ.
func verifyChecksum(path, want string) ([]byte, error) {
	got, err := fileSHA256(path)
	if err != nil {
		return nil, fmt.Errorf("checksumming plugin executable: %w", err)
	}
	want = strings.ToLower(want)
	if got != want {
		return nil, &ChecksumError{Path: path, Want: want, Got: got}
	}
	return hex.DecodeString(got)
}

// ChecksumError means a plugin executable is not the one configured.
type ChecksumError struct {
	Path, Want, Got string
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("refusing to start %s: its sha256 is %s but the configuration expects %s; if you replaced the plugin on purpose, put the new sum in its plugin block", e.Path, e.Got, e.Want)
}

// ErrStopped is returned for work asked of a stopped supervisor.
var ErrStopped = errors.New("plugin supervisor stopped")

// fixedName keeps a plugin's logger name when go-plugin derives a child
// logger from the executable's file name (which, for built-ins, would be
// "keyway" every time).
type fixedName struct {
	hclog.Logger
}

func (f fixedName) Named(string) hclog.Logger      { return f }
func (f fixedName) ResetNamed(string) hclog.Logger { return f }

// fileSHA256 returns the hex sha256 of a file.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer func() { _ = f.Close() }()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

package supervisor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Policy tunes health checks and restarts.
type Policy struct {
	// CheckInterval is how often a plugin's process is checked for exit.
	CheckInterval time.Duration
	// HealthInterval is how often the Health RPC is called; after
	// HealthFailures failures in a row the plugin is replaced.
	HealthInterval time.Duration
	// HealthRetryInterval, when shorter than HealthInterval, is how soon
	// a check follows a failed one, so a frozen plugin is found in a few
	// seconds rather than HealthFailures whole intervals.
	HealthRetryInterval time.Duration
	HealthTimeout       time.Duration
	HealthFailures      int
	// HealthBusyLimit is how long a plugin that keeps using CPU may leave
	// its health checks unanswered before it is replaced: misses while it
	// is busy do not count toward HealthFailures until then.
	HealthBusyLimit time.Duration
	// BackoffInitial doubles with each crash in CrashWindow, up to
	// BackoffMax.
	BackoffInitial time.Duration
	BackoffMax     time.Duration
	// A plugin that crashes more than MaxCrashes times in CrashWindow is
	// marked failed and no longer restarted.
	MaxCrashes  int
	CrashWindow time.Duration
	// StartTimeout bounds go-plugin's handshake: a plugin that has not
	// printed its connection line by then is killed with its process
	// group. A plugin block's start_timeout overrides it.
	StartTimeout time.Duration
	// LaunchTimeout bounds the configuration of a plugin that completed
	// its handshake.
	LaunchTimeout time.Duration
	// StopGrace is how long a plugin that is stopped or replaced may take
	// to exit by itself before its process group is killed. A plugin
	// replaced because it stopped answering gets none: it would not use
	// it.
	StopGrace time.Duration
}

// DefaultPolicy restarts a crashed plugin within a few hundred
// milliseconds and gives up after five crashes in a minute. A plugin that
// stops answering (frozen, deadlocked) is asked every second, found after
// two checks of 1.5 s without an answer, and killed at once: replaced
// within about five seconds. One that misses checks while it uses CPU
// (busy on a saturated machine) gets 30 s. A Health call costs about
// 0.1 ms, so one a second costs nothing that matters.
func DefaultPolicy() Policy {
	return Policy{
		CheckInterval:       100 * time.Millisecond,
		HealthInterval:      time.Second,
		HealthRetryInterval: 100 * time.Millisecond,
		HealthTimeout:       1500 * time.Millisecond,
		HealthFailures:      2,
		HealthBusyLimit:     30 * time.Second,
		BackoffInitial:      100 * time.Millisecond,
		BackoffMax:          10 * time.Second,
		MaxCrashes:          5,
		CrashWindow:         time.Minute,
		StartTimeout:        DefaultStartTimeout,
		LaunchTimeout:       15 * time.Second,
		StopGrace:           DefaultStopGrace,
	}
}

// The defaults of Policy.StartTimeout and Policy.StopGrace, also used
// when a policy leaves them zero.
const (
	DefaultStartTimeout = 15 * time.Second
	DefaultStopGrace    = 2 * time.Second
)

func (p Policy) backoff(crashes int) time.Duration {
	d := p.BackoffInitial
	for i := 1; i < crashes && d < p.BackoffMax; i++ {
		d *= 2
	}
	return min(d, p.BackoffMax)
}

// Options configure a Supervisor.
type Options struct {
	Logger      hclog.Logger
	ClusterName string
	// DataDir holds one directory per plugin, under plugins/.
	DataDir string
	Policy  Policy
	// Host answers plugins' access and certificate questions; nil in
	// processes without those roles.
	Host HostBackend
	// AuditMaxParameterBytes is passed to plugins for their audit events.
	AuditMaxParameterBytes int
	// AuditDBEvents tells protocol plugins which database session events
	// to record: "all" (also when empty), "sessions" or "none".
	AuditDBEvents string
}

// Supervisor owns the plugin processes of one keyway process.
type Supervisor struct {
	env    launchEnv
	policy Policy

	mu        sync.Mutex
	instances []*Instance
	stopped   bool
}

// New returns a supervisor with no plugins.
func New(opts Options) *Supervisor {
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.Policy == (Policy{}) {
		opts.Policy = DefaultPolicy()
	}
	opts.Policy.StartTimeout = cmp.Or(opts.Policy.StartTimeout, DefaultStartTimeout)
	opts.Policy.StopGrace = cmp.Or(opts.Policy.StopGrace, DefaultStopGrace)
	return &Supervisor{
		env: launchEnv{
			logger: opts.Logger, clusterName: opts.ClusterName,
			dataDir: opts.DataDir, host: opts.Host,
			timeout: opts.Policy.LaunchTimeout, startTimeout: opts.Policy.StartTimeout,
			auditParams: uint32(max(opts.AuditMaxParameterBytes, 0)),
			auditEvents: opts.AuditDBEvents,
		},
		policy: opts.Policy,
	}
}

// Start launches and configures every plugin in specs. If any fails, the
// ones already started are stopped and all errors are returned together,
// each naming its plugin.
func (s *Supervisor) Start(ctx context.Context, specs []Spec) error {
	var errs []error
	var started []*Instance
	for _, spec := range specs {
		if ctx.Err() != nil {
			errs = append(errs, fmt.Errorf("plugin %q was not started because keyway is stopping: %w", spec.Name, context.Cause(ctx)))
			continue
		}
		p, err := launch(ctx, spec, s.env)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		started = append(started, newInstance(spec, p, s.env, s.policy))
	}
	if len(errs) == 0 {
		s.mu.Lock()
		errs = append(errs, checkProtocols(append(slices.Clone(s.instances), started...)))
		s.mu.Unlock()
	}
	if err := errors.Join(errs...); err != nil {
		for _, in := range started {
			close(in.done)
			in.shutdown()
		}
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		for _, in := range started {
			close(in.done)
			in.shutdown()
		}
		return ErrStopped
	}
	for _, in := range started {
		s.instances = append(s.instances, in)
		go in.monitor()
	}
	return nil
}

// Instance returns the plugin named name.
func (s *Supervisor) Instance(name string) (*Instance, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, in := range s.instances {
		if in.Name() == name {
			return in, nil
		}
	}
	return nil, fmt.Errorf("no plugin named %q is loaded", name)
}

// Status lists every plugin's state in launch order.
func (s *Supervisor) Status() []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Status, 0, len(s.instances))
	for _, in := range s.instances {
		out = append(out, in.Status())
	}
	return out
}

// Stop stops every plugin and waits for them: each is asked to exit and
// has Policy.StopGrace to do so before its process group is killed, so
// Stop returns within about StopGrace plus two seconds even when a plugin
// is frozen.
func (s *Supervisor) Stop() {
	s.mu.Lock()
	s.stopped = true
	instances := s.instances
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, in := range instances {
		wg.Go(in.shutdown)
	}
	wg.Wait()
}

package embedded

import "time"

// Defaults of the options.
const (
	DefaultLockTimeout   = time.Second
	DefaultSweepInterval = time.Second
	DefaultWatchBuffer   = 1024
)

// Option changes how Open sets up the store.
type Option func(*config)

type config struct {
	lockTimeout   time.Duration
	sweepInterval time.Duration
	watchBuffer   int
	now           func() time.Time
}

func defaults() config {
	return config{
		lockTimeout:   DefaultLockTimeout,
		sweepInterval: DefaultSweepInterval,
		watchBuffer:   DefaultWatchBuffer,
		now:           time.Now,
	}
}

// WithLockTimeout sets how long Open waits for the file lock that another
// process holds before failing.
func WithLockTimeout(d time.Duration) Option {
	return func(c *config) { c.lockTimeout = d }
}

// WithSweepInterval sets how often expired keys are removed from the file
// (and reported to watchers as EventDelete). Expired keys are invisible to
// Get and List at once, whatever the interval.
func WithSweepInterval(d time.Duration) Option {
	return func(c *config) { c.sweepInterval = d }
}

// WithWatchBuffer sets how many unread events a watcher may have before its
// watch ends with EventLost.
func WithWatchBuffer(n int) Option {
	return func(c *config) { c.watchBuffer = n }
}

// WithClock replaces time.Now, for tests of expiry.
func WithClock(now func() time.Time) Option {
	return func(c *config) { c.now = now }
}

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

// normalized replaces settings that cannot work with their defaults: a
// zero lock timeout would wait forever, a zero sweep interval never tick.
func (c config) normalized() config {
	d := defaults()
	if c.lockTimeout <= 0 {
		c.lockTimeout = d.lockTimeout
	}
	if c.sweepInterval <= 0 {
		c.sweepInterval = d.sweepInterval
	}
	if c.watchBuffer <= 0 {
		c.watchBuffer = d.watchBuffer
	}
	if c.now == nil {
		c.now = d.now
	}
	return c
}

// WithLockTimeout sets how long Open waits for the file lock that another
// process holds before failing (DefaultLockTimeout when not positive).
func WithLockTimeout(d time.Duration) Option {
	return func(c *config) { c.lockTimeout = d }
}

// WithSweepInterval sets how often expired keys are removed from the file
// (and reported to watchers as EventDelete). Expired keys are invisible to
// Get and List at once, whatever the interval. DefaultSweepInterval when
// not positive.
func WithSweepInterval(d time.Duration) Option {
	return func(c *config) { c.sweepInterval = d }
}

// WithWatchBuffer sets how many unread events a watcher may have before its
// watch ends with EventLost (DefaultWatchBuffer when not positive).
func WithWatchBuffer(n int) Option {
	return func(c *config) { c.watchBuffer = n }
}

// WithClock replaces time.Now, for tests of expiry.
func WithClock(now func() time.Time) Option {
	return func(c *config) { c.now = now }
}

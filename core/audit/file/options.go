package file

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// Fsync policies.
const (
	// FsyncAlways syncs the file after every batch of writes.
	FsyncAlways = "always"
	// FsyncInterval syncs written data at most FsyncInterval after it was
	// written. It is the default.
	FsyncInterval = "interval"
	// FsyncNever leaves syncing to the operating system, except for
	// EmitDurable, rotation and Close.
	FsyncNever = "never"
)

// Defaults applied by Open to zero options.
const (
	DefaultFsyncInterval = time.Second
	DefaultMaxSizeBytes  = 100 << 20
	DefaultMaxFiles      = 10
	DefaultQueueSize     = 10000
)

// retryInterval is how often an unavailable sink tries to write again.
const retryInterval = time.Second

// Options configure a Sink. Zero values take the defaults.
type Options struct {
	// Path is the active file, e.g. DATA_DIR/audit/events.log. Its
	// directory is created (0700) when missing.
	Path string
	// Fsync is FsyncAlways, FsyncInterval (default) or FsyncNever.
	Fsync string
	// FsyncInterval is the period of FsyncInterval; 1s by default.
	FsyncInterval time.Duration
	// MaxSizeBytes is the size past which the file rotates; 100 MiB by
	// default. A single event larger than this gets a file of its own.
	MaxSizeBytes int64
	// MaxFiles is how many rotated files are kept; 10 by default.
	MaxFiles int
	// QueueSize bounds the events waiting to be written; 10000 by
	// default. Emit blocks while the queue is full.
	QueueSize int
	// Cluster is set on events that do not name their cluster.
	Cluster string

	// beforeWrite, when set, runs in the writer before each write to f;
	// tests use it to hold the writer or make the write fail.
	beforeWrite func(f *os.File)
	// retryEvery overrides retryInterval in tests.
	retryEvery time.Duration
}

// withDefaults checks o and fills in its zero values.
func (o Options) withDefaults() (Options, error) {
	if o.Path == "" {
		return o, errors.New("audit file: no path")
	}
	switch o.Fsync {
	case "":
		o.Fsync = FsyncInterval
	case FsyncAlways, FsyncInterval, FsyncNever:
	default:
		return o, fmt.Errorf("audit file: fsync policy %q: use %s, %s or %s", o.Fsync, FsyncAlways, FsyncInterval, FsyncNever)
	}
	if o.FsyncInterval < 0 || o.MaxSizeBytes < 0 || o.MaxFiles < 0 || o.QueueSize < 0 {
		return o, errors.New("audit file: negative option")
	}
	if o.FsyncInterval == 0 {
		o.FsyncInterval = DefaultFsyncInterval
	}
	if o.MaxSizeBytes == 0 {
		o.MaxSizeBytes = DefaultMaxSizeBytes
	}
	if o.MaxFiles == 0 {
		o.MaxFiles = DefaultMaxFiles
	}
	if o.QueueSize == 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.retryEvery == 0 {
		o.retryEvery = retryInterval
	}
	return o, nil
}

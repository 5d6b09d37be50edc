package pgsink

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Defaults applied by Open to zero options.
const (
	DefaultTable          = "keyway_audit_events"
	DefaultQueueSize      = 10000
	DefaultBatchSize      = 1000
	DefaultConnectTimeout = 5 * time.Second
	DefaultWriteTimeout   = 10 * time.Second
	DefaultRetryMin       = 100 * time.Millisecond
	DefaultRetryMax       = 2 * time.Second
	DefaultPingInterval   = time.Second
	DefaultCloseTimeout   = 5 * time.Second
)

var tablePattern = regexp.MustCompile(`^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$`)

// Options configure a Sink, a Reader or a Searcher. Zero values take the
// defaults.
type Options struct {
	// URL is a postgres:// URL without a password. Without sslmode,
	// verify-full is used.
	URL string
	// CACertFile verifies the server's certificate (sslrootcert).
	CACertFile string
	// CertFile and KeyFile are a client certificate and its key. The key
	// file must not be readable by group or others.
	CertFile, KeyFile string
	// PasswordFile holds the password on its first line. It must not be
	// readable by group or others.
	PasswordFile string
	// Table is the events' table, optionally schema-qualified.
	Table string
	// QueueSize bounds the events waiting to be written.
	QueueSize int
	// BatchSize bounds the events written in one transaction.
	BatchSize int
	// Cluster is set on events that do not name their cluster.
	Cluster string
	// Logger receives the sink's failures and recoveries.
	Logger hclog.Logger

	// ConnectTimeout bounds a connection attempt, WriteTimeout one
	// batch's transaction.
	ConnectTimeout, WriteTimeout time.Duration
	// RetryMin doubles after each failed attempt up to RetryMax while
	// the database is away.
	RetryMin, RetryMax time.Duration
	// PingInterval is how often an idle sink checks its connection, so
	// that its health is current when a session starts.
	PingInterval time.Duration
	// CloseTimeout bounds Close's last attempts to write the queue.
	CloseTimeout time.Duration
}

// withDefaults checks o and fills in its zero values.
func (o Options) withDefaults() (Options, error) {
	if o.URL == "" {
		return o, errors.New("audit postgres: no url")
	}
	if o.Table == "" {
		o.Table = DefaultTable
	}
	if !tablePattern.MatchString(o.Table) {
		return o, fmt.Errorf("audit postgres: table %q: use lower-case letters, digits and '_', optionally with a schema", o.Table)
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		return o, errors.New("audit postgres: give both cert_file and key_file, or neither")
	}
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{
		{&o.ConnectTimeout, DefaultConnectTimeout}, {&o.WriteTimeout, DefaultWriteTimeout},
		{&o.RetryMin, DefaultRetryMin}, {&o.RetryMax, DefaultRetryMax},
		{&o.PingInterval, DefaultPingInterval}, {&o.CloseTimeout, DefaultCloseTimeout},
	} {
		if *d.v < 0 {
			return o, errors.New("audit postgres: negative duration")
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if o.QueueSize < 0 || o.BatchSize < 0 {
		return o, errors.New("audit postgres: negative size")
	}
	if o.QueueSize == 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.BatchSize == 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	return o, nil
}

// tableParts splits a schema-qualified table name.
func tableParts(table string) []string { return strings.Split(table, ".") }

package listener

import (
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"syscall"
	"time"

	metrics "github.com/armon/go-metrics"
	"github.com/hashicorp/go-hclog"
)

// Back-off between failed accepts: it starts at minAcceptDelay and
// doubles up to maxAcceptDelay, so a process out of descriptors neither
// spins nor stays deaf for long once one is free.
const (
	minAcceptDelay = 5 * time.Millisecond
	maxAcceptDelay = time.Second
	// saturationWindow is how long a failed accept for want of
	// descriptors counts as saturation. Failing accepts repeat at least
	// every maxAcceptDelay, so saturation lasts while they do; once the
	// shortage is over and no client comes to prove it, it still ends.
	saturationWindow = 3 * maxAcceptDelay
)

// Metrics is what an accept loop reports: *metrics.Metrics from
// armon/go-metrics.
type Metrics interface {
	IncrCounterWithLabels(key []string, val float32, labels []metrics.Label)
}

// AcceptLoop accepts connections from a listening socket and survives
// the errors that leave the socket usable: running out of descriptors
// (EMFILE, ENFILE) or memory, and a client that gave up before it was
// accepted. It waits with a growing back-off, logs a shortage once per
// episode, and counts every failure.
type AcceptLoop struct {
	// Name labels the loop's log lines and metrics, such as "proxy".
	Name    string
	Logger  hclog.Logger
	Metrics Metrics

	// exhaustedAt is when accepting last failed for want of descriptors
	// or memory (Unix nanoseconds), or zero since a connection was
	// accepted.
	exhaustedAt atomic.Int64
	// sleep waits between attempts; time.Sleep unless a test sets it.
	sleep func(time.Duration)
	// window is saturationWindow unless a test sets it.
	window time.Duration
}

// Saturated reports whether the loop cannot accept connections for want
// of descriptors or memory: the process is alive but new clients wait.
// It is true from such a failure until a connection is accepted, or
// until no such failure has happened for a few seconds.
func (a *AcceptLoop) Saturated() bool {
	at := a.exhaustedAt.Load()
	window := a.window
	if window == 0 {
		window = saturationWindow
	}
	return at != 0 && time.Since(time.Unix(0, at)) < window
}

// Serve accepts connections from ln and passes each to handle, until ln
// is closed (it then returns nil) or fails for good. handle runs on the
// accepting goroutine and must return at once, starting a goroutine of
// its own for the connection.
func (a *AcceptLoop) Serve(ln net.Listener, handle func(net.Conn)) error {
	sleep := a.sleep
	if sleep == nil {
		sleep = time.Sleep
	}
	labels := []metrics.Label{{Name: "listener", Value: a.Name}}
	var (
		delay   time.Duration
		failed  int
		started time.Time
		// short is whether this episode of failures ran out of
		// descriptors or memory, which is worth an operator's notice;
		// a client that gave up is not.
		short bool
	)
	for {
		conn, err := ln.Accept()
		if err == nil {
			if short {
				a.Logger.Info("accepting connections again", "listener", a.Name, "failed_accepts", failed, "after", time.Since(started).Round(time.Millisecond).String())
				a.exhaustedAt.Store(0)
			}
			delay, failed, short = 0, 0, false
			handle(conn)
			continue
		}
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		if !retryable(err) {
			return fmt.Errorf("accepting connections on %s: %w", ln.Addr(), err)
		}
		if failed == 0 {
			started = time.Now()
		}
		failed++
		switch {
		case exhausted(err):
			a.exhaustedAt.Store(time.Now().UnixNano())
			if !short {
				short = true
				a.Logger.Warn("cannot accept connections; retrying with back-off until it works again", "listener", a.Name, "error", err)
			}
		default:
			a.Logger.Debug("accepting a connection failed; retrying", "listener", a.Name, "error", err)
		}
		a.Metrics.IncrCounterWithLabels([]string{"accept", "errors"}, 1, append(labels, metrics.Label{Name: "error", Value: errorName(err)}))
		delay = max(minAcceptDelay, min(2*delay, maxAcceptDelay))
		sleep(delay)
	}
}

// exhaustion are the errors of a process or host out of resources.
var exhaustion = []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM}

// transient are the errors accept returns for one connection that went
// wrong, while the socket still works; accept(2) asks to retry them.
var transient = []syscall.Errno{
	syscall.ECONNABORTED, syscall.ECONNRESET, syscall.EINTR, syscall.EAGAIN, syscall.EPROTO, syscall.EPERM,
	syscall.ETIMEDOUT, syscall.ENETDOWN, syscall.ENETUNREACH, syscall.EHOSTDOWN, syscall.EHOSTUNREACH, syscall.EOPNOTSUPP,
}

func exhausted(err error) bool { return isErrno(err, exhaustion) }

// retryable reports whether accepting again may succeed.
func retryable(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return isErrno(err, exhaustion) || isErrno(err, transient)
}

func isErrno(err error, set []syscall.Errno) bool {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return false
	}
	for _, e := range set {
		if errno == e {
			return true
		}
	}
	return false
}

// errorName is a metric label for err: the errno's short name where
// there is one.
func errorName(err error) string {
	var errno syscall.Errno
	switch {
	case errors.As(err, &errno) && errno == syscall.EMFILE:
		return "emfile"
	case errors.As(err, &errno) && errno == syscall.ENFILE:
		return "enfile"
	case errors.As(err, &errno) && (errno == syscall.ENOBUFS || errno == syscall.ENOMEM):
		return "nomem"
	default:
		return "other"
	}
}

package postgres

import (
	"time"

	"github.com/keyway-dev/keyway/sdk"
)

// The result label of the sessions_started counter.
const (
	resultOK = "ok"
	// resultBadStartup: the client sent no valid StartupMessage in time.
	resultBadStartup = "bad_startup"
	// resultRefused: the host refused the session before it reached the
	// plugin (no valid certificate, unknown database).
	resultRefused = "refused"
	// resultDenied: the route or the cluster's roles do not allow it.
	resultDenied      = "denied"
	resultError       = "error"
	resultUnreachable = "database_unreachable"
	// resultLoginFailed: the database refused the login.
	resultLoginFailed = "login_failed"
	// resultAuditUnavailable: the session's start could not be recorded.
	resultAuditUnavailable = "audit_unavailable"
)

// latencyBoundsMS are the buckets of the plugin's latency histograms.
var latencyBoundsMS = []float64{0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000}

// sessionMetrics records what the plugin's sessions do in its own
// metrics, which the host reads with Stats. The zero value records
// nothing.
type sessionMetrics struct {
	m *sdk.Metrics
}

// started counts a session that ended its startup with result.
func (s sessionMetrics) started(result string) {
	if s.m != nil {
		s.m.Counter("sessions_started", "result", result).Add(1)
	}
}

// handshake records how long a session took from reaching the plugin to
// its client being told it started.
func (s sessionMetrics) handshake(d time.Duration) {
	if s.m != nil {
		s.m.Histogram("handshake_ms", latencyBoundsMS).Observe(ms(d))
	}
}

// authorize records how long the cluster took to decide.
func (s sessionMetrics) authorize(d time.Duration) {
	if s.m != nil {
		s.m.Histogram("authorize_ms", latencyBoundsMS).Observe(ms(d))
	}
}

// auditFailed counts events the host did not accept.
func (s sessionMetrics) auditFailed(n int) {
	if s.m != nil {
		s.m.Counter("audit_events_failed").Add(uint64(n))
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

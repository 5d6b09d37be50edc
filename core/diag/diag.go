// Package diag serves keyway's diagnostic address: Prometheus metrics
// collected through armon/go-metrics, /healthz (the process answers) and
// /readyz (it can do its work).
package diag

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	metrics "github.com/armon/go-metrics"
	promsink "github.com/armon/go-metrics/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewMetrics returns a metrics instance reporting to a Prometheus
// registry of its own (no global state), or discarding everything when
// reg is nil.
func NewMetrics(reg *prometheus.Registry) (*metrics.Metrics, error) {
	cfg := metrics.DefaultConfig("keyway")
	cfg.EnableHostname = false
	cfg.EnableHostnameLabel = false
	cfg.EnableServiceLabel = false
	cfg.EnableRuntimeMetrics = reg != nil
	if reg == nil {
		cfg.EnableRuntimeMetrics = false
		return metrics.New(cfg, &metrics.BlackholeSink{})
	}
	sink, err := promsink.NewPrometheusSinkFrom(promsink.PrometheusOpts{Registerer: reg, Name: "keyway"})
	if err != nil {
		return nil, err
	}
	return metrics.New(cfg, sink)
}

// Server is the diagnostic HTTP server.
type Server struct {
	srv *http.Server
	ln  net.Listener
}

// Listen binds addr and serves /metrics from reg, /healthz, and /readyz,
// which answers 503 with the reason while ready returns an error. When
// refresh is set, /metrics calls it first (with a deadline of 2 s), so
// that metrics read from elsewhere, such as plugins, are current.
func Listen(addr string, reg *prometheus.Registry, ready func(context.Context) error, refresh func(context.Context)) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	metricsHandler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		if refresh != nil {
			ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
			refresh(ctx)
			cancel()
		}
		metricsHandler.ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := ready(ctx); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	return &Server{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, ln: ln}, nil
}

// Addr is the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve answers until Shutdown.
func (s *Server) Serve() error {
	if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown stops the server.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

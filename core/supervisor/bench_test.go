package supervisor

import (
	"context"
	"testing"

	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// BenchmarkHealthRPC measures one trivial plugin RPC round trip.
func BenchmarkHealthRPC(b *testing.B) {
	spec := testSpecB(b, "ok")
	s := New(Options{Policy: fastPolicy(), DataDir: b.TempDir()})
	if err := s.Start(context.Background(), []Spec{spec}); err != nil {
		b.Fatal(err)
	}
	defer s.Stop()
	in, _ := s.Instance("echo")
	conn, err := in.Conn(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if _, err := conn.Base.Health(ctx, &pluginv1.HealthRequest{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkColdStart measures launching and configuring a plugin, then
// stopping it.
func BenchmarkColdStart(b *testing.B) {
	spec := testSpecB(b, "ok")
	for b.Loop() {
		s := New(Options{Policy: fastPolicy(), DataDir: b.TempDir()})
		if err := s.Start(context.Background(), []Spec{spec}); err != nil {
			b.Fatal(err)
		}
		s.Stop()
	}
}

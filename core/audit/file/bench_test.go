package file

import (
	"context"
	"path/filepath"
	"testing"
)

// BenchmarkEmit measures queued events per second to a file synced every
// second, counting until Close has written and synced them.
func BenchmarkEmit(b *testing.B) {
	s, err := Open(Options{Path: filepath.Join(b.TempDir(), DefaultFileName), Fsync: FsyncInterval})
	if err != nil {
		b.Fatal(err)
	}
	e := query(1)
	e.SessionID = "4f1c2a9e-6d7b-4c1e-9a53-8d0f3e2b7c61"
	e.DBService, e.DBUser, e.DBName = "orders", "app", "orders"
	e.Query = "SELECT id, total FROM orders WHERE customer_id = $1 AND created_at > $2"
	e.Parameters = []string{"42", "2026-01-01"}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := s.Emit(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

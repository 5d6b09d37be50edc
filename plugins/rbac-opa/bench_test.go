package rbacopa

import (
	"context"
	"testing"
)

// BenchmarkAuthorize measures one decision with the test cluster's roles
// and two custom modules, the input arriving as JSON as from the core.
func BenchmarkAuthorize(b *testing.B) {
	p := configured(b, writePolicy(b, "frozen.rego", frozen), writePolicy(b, "hours.rego", officeHours))
	input := request{roles: []string{"access", "developer"}, db: prodDB(), dbUser: "postgres", dbName: "app"}.input(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		d, err := p.Authorize(ctx, "db.connect", input)
		if err != nil || !d.Allow {
			b.Fatalf("decision %+v, %v", d, err)
		}
	}
}

// BenchmarkAuthorizeDocumentedExample measures the input of docs/authz.md.
func BenchmarkAuthorizeDocumentedExample(b *testing.B) {
	p := configured(b)
	input := []byte(exampleInput)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Authorize(ctx, "db.connect", input); err != nil {
			b.Fatal(err)
		}
	}
}

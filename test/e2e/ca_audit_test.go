package e2e

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/core/audit"
)

// rotatedPin reads the new key's pin from keyway auth rotate's output.
var rotatedPin = regexp.MustCompile(`new key (sha256:[0-9a-f]{64})`)

// checkRotated finds the one ca.rotated event of an authority and checks
// it against what keyway auth rotate printed.
func checkRotated(t *testing.T, cfg, authorityType, out string, grace time.Duration) {
	t.Helper()
	m := rotatedPin.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("rotate said: %s", out)
	}
	// The command returns once the event is durable: no waiting.
	var found []audit.Event
	for _, e := range auditEvents(t, cfg, "--type="+audit.CARotated) {
		if e.Target == authorityType {
			found = append(found, e)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d ca.rotated events for %s: %+v", len(found), authorityType, found)
	}
	e := found[0]
	if !e.Success || e.CAPin != m[1] || e.Cluster != "e2e" || e.GraceEnds == nil {
		t.Fatalf("ca.rotated event: %+v; want pin %s", e, m[1])
	}
	if until := time.Until(*e.GraceEnds); until <= 0 || until > grace {
		t.Fatalf("grace_ends %s is not within %s from now", e.GraceEnds, grace)
	}
}

func TestCARotationIsAudited(t *testing.T) {
	t.Run("by the running auth role", func(t *testing.T) {
		a := startAllInOne(t)
		out := kw(t, "auth", "rotate", "--type=user", "--grace-period=1h", "-c", a.cfg)
		checkRotated(t, a.cfg, "user", out, time.Hour)
	})
	t.Run("by the command when keyway is not running", func(t *testing.T) {
		c := newCluster(t, "")
		out := kw(t, "auth", "rotate", "--type=db", "--grace-period=2h", "-c", c.cfg)
		checkRotated(t, c.cfg, "db", out, 2*time.Hour)
	})
	t.Run("a refused rotation is recorded as failed", func(t *testing.T) {
		blocks, _ := operatorCAs(t)
		c := newCluster(t, fmt.Sprintf("plugin \"ca-vault\" {\n  config {\n    backend = \"file\"\n%s  }\n}\n", blocks))
		kwFails(t, "auth", "rotate", "--type=db", "-c", c.cfg)
		events := auditEvents(t, c.cfg, "--type="+audit.CARotated)
		if len(events) != 1 || events[0].Success || events[0].Target != "db" || !strings.Contains(events[0].Error, "file") {
			t.Fatalf("events: %+v", events)
		}
	})
}

package embedded

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/core/state"
	"github.com/keyway-dev/keyway/core/state/statetest"
)

func TestConformance(t *testing.T) {
	statetest.Run(t, func(t *testing.T) state.Backend {
		s, err := Open(filepath.Join(t.TempDir(), "state.db"), WithSweepInterval(50*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

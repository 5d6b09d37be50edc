package etcd

import (
	"strings"
	"testing"

	"github.com/keyway-dev/keyway/core/state"
	"github.com/keyway-dev/keyway/core/state/statetest"
	"github.com/keyway-dev/keyway/test/etcdtest"
)

func TestConformance(t *testing.T) {
	cluster := etcdtest.Start(t, 1)
	statetest.Run(t, func(t *testing.T) state.Backend {
		// Each subtest gets a prefix of its own on the shared cluster.
		prefix := "/keyway-test/" + strings.ReplaceAll(t.Name(), "/", "_") + "/"
		s, err := Open(t.Context(), Config{Endpoints: cluster.Endpoints(), Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

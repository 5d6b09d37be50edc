// Package statetest is the conformance suite every state.Backend passes.
// A backend's tests call Run with a function that opens a fresh backend.
package statetest

import (
	"testing"

	"github.com/keyway-dev/keyway/core/state"
)

// test is one conformance subtest, run on a fresh backend.
type test struct {
	name string
	run  func(t *testing.T, b state.Backend)
}

// tests is the suite.
var tests = []test{
	{"put get list delete", testCRUD},
	{"bad arguments", testBadArguments},
	{"revisions increase", testRevisions},
	{"put if absent", testIfAbsent},
	{"put if revision", testIfRevision},
	{"delete with revision", testDeleteIfRevision},
	{"ttl expiry", testTTL},
	{"watch sees its prefix only", testWatchPrefix},
	{"watch ends with its context", testWatchCancel},
	{"close ends watches", testCloseEndsWatches},
	{"concurrent conditional writers", testConcurrentWriters},
	{"large values", testLargeValue},
}

// Run runs the suite. open returns a fresh, empty backend for each subtest
// (on a shared server: under a key prefix of its own, e.g. from t.Name());
// Run closes it when the subtest ends, so Close may be called twice. The
// subtests run in parallel.
func Run(t *testing.T, open func(t *testing.T) state.Backend) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := open(t)
			t.Cleanup(func() {
				if err := b.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.run(t, b)
		})
	}
}

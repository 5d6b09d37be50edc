package sdk

import (
	"errors"
	"testing"
	"time"
)

// The cache asks the host again only when its value is old or near its
// expiry, and serves the last value while the host cannot answer, until
// it expires.
func TestHostCacheFetchesAgainOnlyWhenDue(t *testing.T) {
	down := errors.New("host unreachable")
	for _, tc := range []struct {
		name     string
		notAfter time.Duration // of the first value, from now
		refresh  time.Duration
		second   error // what the host answers the second time
		want     string
		wantErr  bool
		fetches  int
	}{
		{name: "fresh: held", notAfter: 2 * time.Hour, refresh: time.Hour, want: "first", fetches: 1},
		{name: "within refresh: fetched again", notAfter: 30 * time.Minute, refresh: time.Hour, want: "second", fetches: 2},
		{name: "within refresh, host down: the last value", notAfter: 30 * time.Minute, refresh: time.Hour, second: down, want: "first", fetches: 2},
		{name: "expired, host down: the error", notAfter: -time.Minute, refresh: 0, second: down, wantErr: true, fetches: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c hostCache[string]
			fetches := 0
			fetch := func() (string, time.Time, error) {
				fetches++
				if fetches == 1 {
					return "first", time.Now().Add(tc.notAfter), nil
				}
				return "second", time.Now().Add(2 * time.Hour), tc.second
			}
			if v, err := c.get(tc.refresh, fetch); err != nil || v != "first" {
				t.Fatalf("first get: %q, %v", v, err)
			}
			v, err := c.get(tc.refresh, fetch)
			if (err != nil) != tc.wantErr || (!tc.wantErr && v != tc.want) {
				t.Fatalf("second get: %q, %v; want %q (error %v)", v, err, tc.want, tc.wantErr)
			}
			if fetches != tc.fetches {
				t.Fatalf("the host was asked %d times; want %d", fetches, tc.fetches)
			}
		})
	}
}

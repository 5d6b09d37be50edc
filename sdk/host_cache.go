package sdk

import (
	"sync"
	"time"
)

// hostCache keeps a value the host gives, such as a certificate, for a
// while: it is fetched again servingRecheck after it was fetched, so that
// one the host renewed early (after a rotation) is taken up soon, and in
// any case once it is within refresh of its expiry. While the host cannot
// answer, the last value serves until it expires.
type hostCache[T any] struct {
	mu       sync.Mutex
	v        T
	held     bool
	notAfter time.Time
	fetched  time.Time
}

// get returns the value held, or what fetch returns: the value and when
// it expires. refresh is how long before its expiry a value is fetched
// again however recently it was.
func (c *hostCache[T]) get(refresh time.Duration, fetch func() (T, time.Time, error)) (T, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held && time.Since(c.fetched) < servingRecheck && time.Until(c.notAfter) > refresh {
		return c.v, nil
	}
	v, notAfter, err := fetch()
	if err != nil {
		if c.held && time.Now().Before(c.notAfter) {
			return c.v, nil
		}
		var zero T
		return zero, err
	}
	c.v, c.held, c.notAfter, c.fetched = v, true, notAfter, time.Now()
	return v, nil
}

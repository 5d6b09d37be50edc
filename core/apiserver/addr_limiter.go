package apiserver

import (
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"golang.org/x/time/rate"
)

// maxLimitedAddrs bounds the addresses an AddrLimiter remembers, so a
// spray of source addresses costs bounded memory: the least recently
// seen address is forgotten first.
const maxLimitedAddrs = 10000

// Rate is a token bucket: Burst calls at once, refilled at Burst calls
// per Per.
type Rate struct {
	Burst int
	Per   time.Duration
}

// AddrLimiter limits calls per client address.
type AddrLimiter struct {
	rate Rate
	now  func() time.Time

	mu     sync.Mutex
	byAddr *simplelru.LRU[string, *addrBucket]
}

// addrBucket is one address's bucket.
type addrBucket struct {
	limiter *rate.Limiter
	// reported is when a refusal of this address was last reported.
	reported time.Time
}

// NewAddrLimiter limits each address to r, remembering at most maxAddrs
// addresses (maxLimitedAddrs when zero). now is the clock, time.Now when
// nil.
func NewAddrLimiter(r Rate, maxAddrs int, now func() time.Time) *AddrLimiter {
	if maxAddrs <= 0 {
		maxAddrs = maxLimitedAddrs
	}
	if now == nil {
		now = time.Now
	}
	// NewLRU fails only for a size below one.
	byAddr, _ := simplelru.NewLRU[string, *addrBucket](maxAddrs, nil)
	return &AddrLimiter{rate: r, now: now, byAddr: byAddr}
}

// Decision is an AddrLimiter's answer to one call.
type Decision struct {
	Allow bool
	// RetryAfter is how long a refused address waits for its next call.
	RetryAfter time.Duration
	// Report is true for the first refusal of an address in each period
	// of the rate, so refusals are audited once per period, not per call.
	Report bool
}

// Allow takes a token from key's bucket.
func (l *AddrLimiter) Allow(key string) Decision {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.byAddr.Get(key)
	if !ok {
		b = &addrBucket{limiter: rate.NewLimiter(rate.Limit(float64(l.rate.Burst)/l.rate.Per.Seconds()), l.rate.Burst)}
		l.byAddr.Add(key, b)
	}
	r := b.limiter.ReserveN(now, 1)
	if !r.OK() {
		return Decision{RetryAfter: l.rate.Per, Report: b.report(now, l.rate.Per)}
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return Decision{RetryAfter: d, Report: b.report(now, l.rate.Per)}
	}
	return Decision{Allow: true}
}

// report says whether a refusal at now is the first in its period.
func (b *addrBucket) report(now time.Time, per time.Duration) bool {
	if !b.reported.IsZero() && now.Sub(b.reported) < per {
		return false
	}
	b.reported = now
	return true
}

// Len is how many addresses the limiter remembers.
func (l *AddrLimiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.byAddr.Len()
}

// clientKey names the bucket of a client address and the address as a
// refusal states it: the IP, or for IPv6 its /64, which one host or
// site usually holds whole.
func clientKey(addr net.Addr) string {
	if addr == nil {
		return "an unknown address"
	}
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		host, _, err := net.SplitHostPort(addr.String())
		if err != nil {
			return addr.String()
		}
		return host
	}
	ip := ap.Addr().Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Default rate limits per client address (auth { login_rate },
// proxy { api_rate }).
const (
	// DefaultLoginRate allows 20 logins and joins at once from one
	// address, then one every 3 s.
	DefaultLoginRate = "20/1m"
	// DefaultAPIRate allows 600 calls at once from one address, then 10
	// a second.
	DefaultAPIRate = "600/1m"
)

// Rate is a rate limit: Count calls at once, refilled at Count per Per.
type Rate struct {
	Count int
	Per   time.Duration
}

// ParseRate reads "COUNT/PERIOD", such as "20/1m" or "5/s": a positive
// count and a Go duration, where a bare unit (s, m, h) means one of it.
func ParseRate(s string) (Rate, error) {
	count, per, ok := strings.Cut(strings.TrimSpace(s), "/")
	n, err := strconv.Atoi(count)
	if !ok || err != nil || n <= 0 {
		return Rate{}, fmt.Errorf("%q is not COUNT/PERIOD with a positive count, such as 20/1m", s)
	}
	if per == "s" || per == "m" || per == "h" {
		per = "1" + per
	}
	d, err := time.ParseDuration(per)
	if err != nil || d <= 0 {
		return Rate{}, fmt.Errorf("%q is not COUNT/PERIOD with a positive period, such as 20/1m", s)
	}
	return Rate{Count: n, Per: d}, nil
}

// rateOr parses s, or def when s is empty. Values were checked when the
// configuration was loaded.
func rateOr(s, def string) Rate {
	if s == "" {
		s = def
	}
	r, err := ParseRate(s)
	if err != nil {
		r, _ = ParseRate(def)
	}
	return r
}

// LoginLimit is the rate of logins and joins per client address.
func (a *Auth) LoginLimit() Rate {
	if a == nil {
		return rateOr("", DefaultLoginRate)
	}
	return rateOr(a.LoginRate, DefaultLoginRate)
}

// APILimit is the rate of cluster API calls per client address.
func (p *Proxy) APILimit() Rate {
	if p == nil {
		return rateOr("", DefaultAPIRate)
	}
	return rateOr(p.APIRate, DefaultAPIRate)
}

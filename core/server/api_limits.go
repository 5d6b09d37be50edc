package server

import (
	metrics "github.com/armon/go-metrics"

	"github.com/keyway-dev/keyway/core/apiserver"
)

// apiLimits are the cluster API's rate limits per client address, from
// auth { login_rate } and proxy { api_rate }; each refusal is counted in
// the metric api.rate_limited, labelled with the limit.
func (n *node) apiLimits() *apiserver.Limits {
	login, api := n.cfg.Auth.LoginLimit(), n.cfg.Proxy.APILimit()
	return &apiserver.Limits{
		Login: apiserver.NewAddrLimiter(apiserver.Rate{Burst: login.Count, Per: login.Per}, 0, nil),
		API:   apiserver.NewAddrLimiter(apiserver.Rate{Burst: api.Count, Per: api.Per}, 0, nil),
		Refused: func(limit string) {
			n.metrics.IncrCounterWithLabels([]string{"api", "rate_limited"}, 1, []metrics.Label{{Name: "limit", Value: limit}})
		},
	}
}

package config

import (
	"testing"
	"time"
)

func TestRateLimits(t *testing.T) {
	tests := []struct {
		name, auth, proxy string
		login, api        Rate
		err               string
	}{
		{"defaults", "", "", Rate{20, time.Minute}, Rate{600, time.Minute}, ""},
		{"set", `login_rate = "5/s"`, `api_rate = "100/10s"`, Rate{5, time.Second}, Rate{100, 10 * time.Second}, ""},
		{"a bare hour", `login_rate = "50/h"`, "", Rate{50, time.Hour}, Rate{600, time.Minute}, ""},
		{"no count", `login_rate = "/1m"`, "", Rate{}, Rate{}, `error: Invalid login rate`},
		{"zero count", `login_rate = "0/1m"`, "", Rate{}, Rate{}, `login_rate = "0/1m" is not COUNT/PERIOD with a positive count`},
		{"no period", "", `api_rate = "100"`, Rate{}, Rate{}, `error: Invalid API rate`},
		{"negative period", "", `api_rate = "100/-1m"`, Rate{}, Rate{}, `api_rate = "100/-1m" is not COUNT/PERIOD with a positive period`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := head + "auth {\n  authz_plugin = \"postgres\"\n  " + tt.auth + "\n}\nproxy {\n  listen = \"127.0.0.1:3080\"\n  " + tt.proxy + "\n}\n"
			cfg := loadCase(t, body, tt.err)
			if cfg == nil {
				return
			}
			if got := cfg.Auth.LoginLimit(); got != tt.login {
				t.Fatalf("login rate %+v, want %+v", got, tt.login)
			}
			if got := cfg.Proxy.APILimit(); got != tt.api {
				t.Fatalf("API rate %+v, want %+v", got, tt.api)
			}
		})
	}
}

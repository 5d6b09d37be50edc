package config

import (
	"strings"
	"testing"
	"time"
)

func TestDatabasePool(t *testing.T) {
	tests := []struct {
		name    string
		pool    string
		want    string // the error's text, "" for none
		maxIdle int
		idle    time.Duration
	}{
		{name: "no pool"},
		{name: "defaults", pool: `pool { mode = "session" }`, maxIdle: 20, idle: 5 * time.Minute},
		{name: "set", pool: `pool {
      mode = "session"
      max_idle = 3
      idle_timeout = "30s"
    }`, maxIdle: 3, idle: 30 * time.Second},
		{name: "transaction mode", pool: `pool { mode = "transaction" }`, want: `the only mode is "session"`},
		{name: "no idle", pool: `pool {
      mode = "session"
      max_idle = 0
    }`, want: "max_idle = 0"},
		{name: "bad timeout", pool: `pool {
      mode = "session"
      idle_timeout = "soon"
    }`, want: `idle_timeout = "soon" is not a positive duration`},
		{name: "no mode", pool: `pool {}`, want: `"mode" is required`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, errs := load(t, head+`db {
  proxy_addr = "127.0.0.1:1"
  token_file = "/t"
  database "app" {
    protocol = "postgres"
    uri      = "127.0.0.1:5432"
    `+tt.pool+`
  }
}
`)
			if tt.want != "" {
				if !strings.Contains(errs, tt.want) {
					t.Fatalf("errors %q lack %q", errs, tt.want)
				}
				return
			}
			if errs != "" {
				t.Fatal(errs)
			}
			got := cfg.DB.Databases[0].Pool.Settings()
			if tt.pool == "" {
				if got != nil {
					t.Fatalf("no pool block gave %+v", got)
				}
				return
			}
			if got == nil || got.Mode != "session" || got.MaxIdle != tt.maxIdle || got.IdleTimeout != tt.idle {
				t.Fatalf("settings %+v", got)
			}
		})
	}
}

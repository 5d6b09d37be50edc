package config

import (
	"testing"
)

func TestDataConnections(t *testing.T) {
	tests := []struct {
		name, attr string
		want       int
		err        string
	}{
		{"default", "", DefaultDataConnections, ""},
		{"off", "data_connections = 0", 0, ""},
		{"most", "data_connections = 16", 16, ""},
		{"negative", "data_connections = -1", 0, "error: Invalid data connections: data_connections = -1 must be from 0"},
		{"over the proxy's cap", "data_connections = 17", 0, "k.hcl:5:22: error: Invalid data connections"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := loadCase(t, head+"db {\n  proxy_addr = \"p:1\"\n  "+tt.attr+"\n}\n", tt.err)
			if cfg == nil {
				return
			}
			if got := cfg.DB.DataConns(); got != tt.want {
				t.Fatalf("data connections %d; want %d", got, tt.want)
			}
		})
	}
}

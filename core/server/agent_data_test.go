package server

import (
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/keyway-dev/keyway/core/agent"
	"github.com/keyway-dev/keyway/core/config"
	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// Data connections go to a plugin before TLS only when the agent's
// databases all speak one protocol, whose plugin then serves them all.
func TestDataConnectionsGoToTheOneProtocol(t *testing.T) {
	for _, tc := range []struct {
		name      string
		protocols []string
		want      string
	}{
		{name: "none", protocols: nil, want: ""},
		{name: "one database", protocols: []string{"postgres"}, want: "postgres"},
		{name: "two of one protocol", protocols: []string{"postgres", "postgres"}, want: "postgres"},
		{name: "two protocols", protocols: []string{"postgres", "mysql"}, want: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var dbs []config.Database
			for i, p := range tc.protocols {
				dbs = append(dbs, config.Database{Name: string(rune('a' + i)), Protocol: p, URI: "db:1"})
			}
			reg, err := agent.NewRegistry(dbs, nil)
			if err != nil {
				t.Fatal(err)
			}
			d := newAgentData(nil, reg, nil, hclog.NewNullLogger())
			got, ok := d.protocol()
			if got != tc.want || ok != (tc.want != "") {
				t.Fatalf("protocol() = %q, %v; want %q", got, ok, tc.want)
			}
		})
	}
}

// A session's route ends once: when its plugin says it ended, or when
// the plugin process that served it stopped.
func TestDataSessionRoutesEndWithTheirPlugin(t *testing.T) {
	reg, err := agent.NewRegistry(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := newAgentData(nil, reg, nil, hclog.NewNullLogger())
	ended := map[string]int{}
	done := make(chan string, 3)
	gone := make(chan struct{})
	d.mu.Lock()
	from := &handedSlot{gone: gone}
	for _, id := range []string{"s1", "s2"} {
		d.ends[id] = handedEnd{end: func() { done <- id }, from: from}
	}
	d.ends["s3"] = handedEnd{end: func() { done <- "s3" }, from: &handedSlot{gone: make(chan struct{})}}
	d.watchLocked(gone)
	d.mu.Unlock()

	d.released(&pluginv1.ReleasedRequest{SessionId: "s1"})
	d.released(&pluginv1.ReleasedRequest{SessionId: "s1"})
	d.released(&pluginv1.ReleasedRequest{SessionId: "unknown"})
	ended[<-done]++
	close(gone)
	ended[<-done]++
	if ended["s1"] != 1 || ended["s2"] != 1 {
		t.Fatalf("routes ended %v; want s1 by its release and s2 by its plugin's end, once each", ended)
	}
	d.mu.Lock()
	_, s3 := d.ends["s3"]
	left := len(d.ends)
	d.mu.Unlock()
	if !s3 || left != 1 || len(done) != 0 {
		t.Fatalf("another plugin's session was ended, or an ended one kept: %d left, s3 kept %v", left, s3)
	}
}

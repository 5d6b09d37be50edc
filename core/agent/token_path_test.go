package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTokenPath(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	tokens := filepath.Join(dir, "tokens")
	for _, p := range []string{file, filepath.Join(tokens, "agent-0")} {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("kw1.x.y"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, tokenFile, host, want, wantErr string
	}{
		{"a file", file, "agent-0", file, ""},
		{"a directory with the agent's file", tokens, "agent-0", filepath.Join(tokens, "agent-0"), ""},
		{"a directory without it", tokens, "agent-1", "", "add a file named agent-1"},
		{"missing", filepath.Join(dir, "none"), "agent-0", "", "reading the join token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := TokenPath(tt.tokenFile, tt.host)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("TokenPath = %q, %v; want an error with %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("TokenPath = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

package proxy

import (
	"bytes"
	"testing"

	"github.com/keyway-dev/keyway/sdk"
)

func TestKeyTag(t *testing.T) {
	local, a, b := KeyTag(LocalRoute), KeyTag(AgentRoute("db-1")), KeyTag(AgentRoute("db-2"))
	if len(local) != sdk.KeyTagSize || len(a) != sdk.KeyTagSize {
		t.Fatalf("tags of %d and %d bytes, want %d", len(local), len(a), sdk.KeyTagSize)
	}
	if !bytes.Equal(a, KeyTag(AgentRoute("db-1"))) {
		t.Fatal("the same route got two tags")
	}
	if bytes.Equal(a, b) || bytes.Equal(a, local) {
		t.Fatalf("distinct routes share a tag: local %x, db-1 %x, db-2 %x", local, a, b)
	}
}

func TestKeyTagOf(t *testing.T) {
	msg := []byte{0, 0, 0, 16, 4, 210, 22, 46, 1, 2, 3, 4, 0xab, 0xcd, 7, 8}
	tests := []struct {
		name string
		p    sdk.Preamble
		msg  []byte
		want []byte
	}{
		{"tagged", sdk.Preamble{KeyTagOffset: 12}, msg, []byte{0xab, 0xcd}},
		{"no tag declared", sdk.Preamble{}, msg, nil},
		{"a request too short for its tag", sdk.Preamble{KeyTagOffset: 12}, msg[:13], nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := keyTagOf(tt.p, tt.msg); !bytes.Equal(got, tt.want) {
				t.Fatalf("keyTagOf = %x, want %x", got, tt.want)
			}
		})
	}
}

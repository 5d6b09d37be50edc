package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/keyway-dev/keyway/core/authority"
	"github.com/keyway-dev/keyway/sdk"
)

// rotationState names the host authority's rotation as it is now: its
// phase and trusted keys. A certificate issued in one state is renewed
// once the state changes, so the proxy presents the chain of the current
// phase: the old key's certificate with the new key's cross-certificate
// in init and update_clients, the new key's with the old key's
// cross-certificate in update_servers, and the single key's after
// standby. "" when the state cannot be read.
func (h *hostCert) rotationState(ctx context.Context) string {
	st, err := authority.State(ctx, h.ca, sdk.AuthorityHost)
	if err != nil {
		return ""
	}
	sum := sha256.New()
	for _, der := range st.Certificates {
		sum.Write(der)
	}
	return strings.Join([]string{st.Phase, hex.EncodeToString(sum.Sum(nil))}, "/")
}

// rotationChanged reports whether the host authority's rotation moved on
// since the certificate was issued. Any doubt counts as no.
func (h *hostCert) rotationChanged(ctx context.Context) bool {
	issued := h.issuedFor.Load()
	now := h.rotationState(ctx)
	if issued == nil || now == "" {
		return false
	}
	return *issued != now
}

// kickRenew asks keepFresh to look at the rotation at once, not at its
// next check.
func (h *hostCert) kickRenew() {
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

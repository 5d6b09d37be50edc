package supervisor

import (
	"fmt"
	"slices"

	"github.com/keyway-dev/keyway/sdk"
)

// supportedAPIs lists the API versions of a kind that this core speaks.
func supportedAPIs(k sdk.Kind) []uint32 {
	switch k {
	case sdk.KindProtocol, sdk.KindCA, sdk.KindAuthz:
		return []uint32{1}
	}
	return nil
}

// negotiate picks the highest API version both sides speak, or explains
// which side to upgrade.
func negotiate(name string, kind sdk.Kind, pluginVersions []uint32) (uint32, error) {
	ours := supportedAPIs(kind)
	var best uint32
	for _, v := range pluginVersions {
		if slices.Contains(ours, v) && v > best {
			best = v
		}
	}
	if best != 0 {
		return best, nil
	}
	advice := "use a build of the plugin for this keyway"
	if len(pluginVersions) > 0 && len(ours) > 0 && slices.Min(pluginVersions) > slices.Max(ours) {
		advice = "upgrade keyway to a release that speaks the plugin's version, or use an older build of the plugin"
	} else if len(pluginVersions) > 0 && len(ours) > 0 && slices.Max(pluginVersions) < slices.Min(ours) {
		advice = "upgrade the plugin to a build against a newer keyway SDK"
	}
	return 0, fmt.Errorf("plugin %q speaks %s API versions %v, keyway speaks %v: %s", name, kind, pluginVersions, ours, advice)
}

#!/usr/bin/env bash
# helm-check: for each chart under deploy/helm, lint it, render it with
# its ci/values.yaml, check every rendered object against the Kubernetes
# API's types (deploy/helmcheck), and compare the rendering with the
# committed ci/rendered.yaml, which the e2e image test validates with
# keyway itself. UPDATE=1 rewrites ci/rendered.yaml. Also checks that a
# chart rendered without its required values fails with a sentence
# naming the value.
set -euo pipefail
cd "$(dirname "$0")/.."
helm=${HELM:-bin/tools/helm}
helmcheck=${HELMCHECK:-bin/tools/helmcheck}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

declare -A required=([keyway-agent]=proxyAddr [keyway-cluster]=clusterName)
for chart in deploy/helm/*/; do
	chart=${chart%/}
	name=$(basename "$chart")
	echo "== $name"
	"$helm" lint --strict "$chart" -f "$chart/ci/values.yaml"
	"$helm" template keyway "$chart" -f "$chart/ci/values.yaml" >"$tmp/$name.yaml"
	"$helmcheck" "$tmp/$name.yaml"
	if [ "${UPDATE:-}" = 1 ]; then
		cp "$tmp/$name.yaml" "$chart/ci/rendered.yaml"
	elif ! diff -u "$chart/ci/rendered.yaml" "$tmp/$name.yaml"; then
		echo "$chart/ci/rendered.yaml is stale: run UPDATE=1 make helm-check and commit it" >&2
		exit 1
	fi
	want=${required[$name]:?no required value named for $name}
	if out=$("$helm" template keyway "$chart" 2>&1); then
		echo "$name rendered without its required values" >&2
		exit 1
	elif ! grep -q "$want" <<<"$out"; then
		echo "$name without its values failed without naming $want:" >&2
		echo "$out" >&2
		exit 1
	fi
done
echo "helm-check: ok"

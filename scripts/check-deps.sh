#!/usr/bin/env bash
# Enforces the dependency directions of docs/architecture.md:
#   sdk/ imports nothing of the repository;
#   core/ imports no plugin;
#   a plugin imports sdk/ only, never core/ or another plugin;
#   examples import sdk/ only.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=github.com/keyway-dev/keyway
fail=0

# deps PKGDIR MODULEDIR: the repository packages PKGDIR depends on.
deps() {
	(cd "$2" && go list -deps -f '{{.ImportPath}}' "$1" | grep "^$repo/" || true)
}

bad=$(deps ./... sdk | grep -v "^$repo/sdk" || true)
if [ -n "$bad" ]; then echo "sdk/ must not import the rest of the repository:"; echo "$bad"; fail=1; fi

bad=$(deps ./core/... . | grep "^$repo/plugins/" || true)
if [ -n "$bad" ]; then echo "core/ must not import plugins:"; echo "$bad"; fail=1; fi

for dir in plugins/*/; do
	dir=${dir%/}
	bad=$(deps "./$dir/..." . | grep -v "^$repo/sdk" | grep -v "^$repo/$dir" || true)
	if [ -n "$bad" ]; then echo "$dir must import only sdk/ and itself:"; echo "$bad"; fail=1; fi
done

for dir in examples/*/; do
	bad=$(deps ./... "$dir" | grep -v "^$repo/sdk" | grep -v "^$repo/examples/" || true)
	if [ -n "$bad" ]; then echo "$dir must import only sdk/:"; echo "$bad"; fail=1; fi
done

[ $fail -eq 0 ] && echo "dependency directions: ok"
exit $fail

#!/usr/bin/env bash
# Enforces the dependency directions of docs/architecture.md:
#   sdk/ imports nothing of the repository;
#   core/ imports no plugin;
#   a plugin imports sdk/ only, never core/ or another plugin;
#   examples import sdk/ only.
# Tests count too (go list -test), except that core and plugin tests may
# use the real-server harnesses under test/ (pgtest, etcdtest, ...).
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
repo=github.com/keyway-dev/keyway
fail=0

# deps PKGS MODULEDIR: the repository packages PKGS and their tests
# depend on, without the test binaries' own packages and the harnesses.
# A package that cannot be loaded fails the check.
deps() {
	local all
	all=$(cd "$2" && go list -e=false -deps -test -f '{{.ImportPath}}' "$1")
	grep "^$repo/" <<<"$all" | sed 's/ \[.*\]$//' | grep -v '\.test$' |
		grep -v "^$repo/test/[a-z]*test$" | sort -u || true
}

# check WHAT PKGS MODULEDIR ALLOWED: fails when PKGS depend on a
# repository package that does not match the ALLOWED pattern.
check() {
	local d bad
	d=$(deps "$2" "$3")
	bad=$(grep -Ev "$4" <<<"$d" || true)
	if [ -n "$bad" ]; then
		echo "$1:"
		echo "$bad"
		fail=1
	fi
}

check "sdk/ must not import the rest of the repository" ./... sdk "^$repo/sdk"
d=$(deps ./core/... .)
bad=$(grep "^$repo/plugins/" <<<"$d" || true)
if [ -n "$bad" ]; then echo "core/ must not import plugins:"; echo "$bad"; fail=1; fi
for dir in plugins/*/; do
	dir=${dir%/}
	check "$dir must import only sdk/ and itself" "./$dir/..." . "^$repo/(sdk|$dir)(/|$)"
done
for dir in examples/*/; do
	dir=${dir%/}
	check "$dir must import only sdk/ and itself" ./... "$dir" "^$repo/(sdk|$dir)(/|$)"
done

[ $fail -eq 0 ] && echo "dependency directions: ok"
exit $fail

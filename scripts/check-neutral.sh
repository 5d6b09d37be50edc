#!/usr/bin/env bash
# Holds core/ to knowing no protocol: outside tests and the PostgreSQL
# audit sink (a sink that stores events in a database, not a protocol
# keyway serves), no Go file of core/ may name a database protocol, its
# clients or its wire constants. Protocol plugins declare what the core
# needs through sdk/ (docs/plugins.md).
set -euo pipefail
cd "$(dirname "$0")/.."

# The audit sink and its configuration.
allowed='^core/audit/pgsink/|^core/config/audit_postgres\.go|^core/config/audit\.go|^core/server/audit\.go'
# Protocol names, client programs and libraries, wire constants (the
# SSLRequest, GSSENCRequest and CancelRequest codes, in decimal and hex).
words='postgres|pgproto|pgx|libpq|psql|sslrequest|gssenc|startupmessage|mysql|mariadb|80877|04d2162|0x04d2'

found=$(git ls-files 'core/*.go' | grep -v '_test\.go$' | grep -Ev "$allowed" | xargs grep -niE "$words" || true)
if [ -n "$found" ]; then
	echo "core/ must not name a protocol or hold its wire constants (declare it in the protocol's plugin through sdk/):"
	echo "$found"
	exit 1
fi
echo "protocol-neutral core: ok"

#!/usr/bin/env bash
# prereqs.sh PURPOSE... installs what `make PURPOSE` needs from Debian's
# packages when it is missing: the README's commands must work on a fresh
# Debian machine that has only Go and a C compiler. As root it runs
# apt-get; as another user it names the exact command to run and fails.
#
# Each requirement is a file that proves it is installed and the Debian
# package that provides it.
set -euo pipefail

declare -A need=()
add() { need[$1]=$2; }

for purpose in "$@"; do
	case $purpose in
	demo)
		add /usr/lib/postgresql/15/bin/initdb postgresql-15
		add /usr/bin/psql postgresql-client-15
		add /usr/sbin/mariadbd mariadb-server
		add /usr/bin/mariadb-install-db mariadb-server
		add /usr/bin/mariadb mariadb-client
		add /usr/bin/mariadb-admin mariadb-client
		;;
	test)
		add /usr/lib/postgresql/15/bin/initdb postgresql-15
		add /usr/bin/psql postgresql-client-15
		add /usr/bin/pgbench postgresql-client-15
		add /usr/bin/etcd etcd-server
		add /usr/bin/softhsm2-util softhsm2
		add /usr/sbin/mariadbd mariadb-server
		add /usr/bin/mariadb-install-db mariadb-server
		add /usr/bin/mariadb mariadb-client
		add /usr/bin/mariadb-admin mariadb-client
		add /usr/bin/prlimit util-linux
		add /usr/bin/git git
		# The container image test puts the system's CA bundle in the image.
		add /etc/ssl/certs/ca-certificates.crt ca-certificates
		;;
	bench)
		add /usr/lib/postgresql/15/bin/initdb postgresql-15
		add /usr/bin/pgbench postgresql-client-15
		add /usr/sbin/pgbouncer pgbouncer
		;;
	*)
		echo "prereqs.sh: unknown purpose $purpose (demo, test or bench)" >&2
		exit 2
		;;
	esac
done

missing=()
for file in "${!need[@]}"; do
	[ -e "$file" ] || missing+=("${need[$file]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)

if [ "$(id -u)" != 0 ]; then
	echo "missing Debian packages: ${missing[*]}" >&2
	echo "install them as root, then run make again:" >&2
	echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
	exit 1
fi

echo "== installing ${missing[*]} from Debian's packages"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian's postgresql package creates and starts a cluster of its own; the
# tests and the demo start theirs, so the packaged one is stopped.
if printf '%s\n' "${missing[@]}" | grep -qx postgresql-15 && command -v pg_ctlcluster >/dev/null; then
	pg_ctlcluster 15 main stop 2>/dev/null || true
fi

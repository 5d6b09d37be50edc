#!/usr/bin/env bash
# make demo: the walkthrough of docs/walkthrough.md on one machine, for
# real. An auth+proxy keyway, a PostgreSQL 15 and a MariaDB with TLS and
# certificate authentication whose certificates come from the cluster, a
# database agent in its own process that joins with a one-time token and
# serves both (MariaDB through the mysql plugin of examples/, built on its
# own and loaded by checksum), and a user, alice, who redeems her invite,
# lists databases and runs psql and mariadb through the proxy.
# Everything runs on 127.0.0.1 under .demo/; nothing is left running.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
demo=$root/.demo
K=$root/bin/keyway
proxy=127.0.0.1:13080
pgport=15432
mariaport=13306
mysqlproxy=127.0.0.1:13307

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '\033[2m$ %s\033[0m\n' "$*"; "$@"; }

# PostgreSQL refuses to run as root; the demo runs it as the postgres user.
scripts/prereqs.sh demo
pgbin=$(ls -d /usr/lib/postgresql/15/bin)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
as_mysql() { if [ "$(id -u)" = 0 ]; then runuser -u mysql -- "$@"; else "$@"; fi; }

pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	if [ -S "$demo/maria/mysqld.sock" ]; then
		mariadb-admin --no-defaults -S "$demo/maria/mysqld.sock" -u root shutdown >/dev/null 2>&1 || true
	fi
	if [ -f "$demo/pg/data/postmaster.pid" ]; then
		as_pg "$pgbin/pg_ctl" stop -D "$demo/pg/data" -m fast >/dev/null 2>&1 || true
	fi
	wait 2>/dev/null || true
}
trap cleanup EXIT

rm -rf "$demo" && mkdir -p "$demo"
export KEYWAY_HOME=$demo/alice-home

wait_ready() { # ready file (keyway start --ready-file), pid, log
	for _ in $(seq 1 300); do
		[ -e "$1" ] && return 0
		if ! kill -0 "$2" 2>/dev/null; then
			echo "keyway exited; its log:" >&2
			cat "$3" >&2
			exit 1
		fi
		sleep 0.05
	done
	echo "keyway did not become ready; its log:" >&2
	cat "$3" >&2
	exit 1
}

step "A protocol plugin built outside keyway, against sdk/ only: MySQL and MariaDB"
run go build -C examples/mysql -o "$demo/mysql" .
sum=$(sha256sum "$demo/mysql" | cut -d' ' -f1)
plugin_block=$(printf 'plugin "mysql" {\n  command = "%s"\n  sha256  = "%s"\n}\n' "$demo/mysql" "$sum")

step "Operator, on the auth/proxy host"
run "$K" configure -o "$demo/auth.hcl" --cluster-name=example --data-dir="$demo/auth" --listen=$proxy
# MySQL's server speaks first, so its clients reach the proxy on a port
# of their own, where the mysql plugin greets them.
sed -i "s|^proxy {\$|proxy {\n  protocol \"mysql\" {\n    listen = \"$mysqlproxy\"\n  }|" "$demo/auth.hcl"
printf '\n%s\n' "$plugin_block" >>"$demo/auth.hcl"
run cat "$demo/auth.hcl"
"$K" start -c "$demo/auth.hcl" --ready-file="$demo/auth.ready" >"$demo/auth.log" 2>&1 &
pids+=($!)
printf '\033[2m$ keyway start -c %s --ready-file=%s &   (log: %s)\033[0m\n' "$demo/auth.hcl" "$demo/auth.ready" "$demo/auth.log"
wait_ready "$demo/auth.ready" "${pids[-1]}" "$demo/auth.log"
run "$K" status -c "$demo/auth.hcl"
pin=$("$K" status -c "$demo/auth.hcl" | awk '$1=="host" {print $3}')
printf '\033[2m$ keyway tokens add --type=db --db-names=example-postgres,example-mariadb --format=text > token\033[0m\n'
"$K" tokens add --type=db --db-names=example-postgres,example-mariadb --format=text -c "$demo/auth.hcl" >"$demo/token"
chmod 600 "$demo/token"
run "$K" users add alice --roles=access --db-users='*' --db-names='*' -c "$demo/auth.hcl" | tee "$demo/users.out"
grep -oE '^ +[0-9a-f]{32}$' "$demo/users.out" | tr -d ' ' >"$demo/invite"
chmod 600 "$demo/invite"
mkdir -p "$demo/pg"
run "$K" auth sign --format=db --host=127.0.0.1 --out="$demo/pg/server" --ttl=2190h -c "$demo/auth.hcl"
printf '\033[2m$ keyway auth export --type=db-client > db-client.cas\033[0m\n'
"$K" auth export --type=db-client -c "$demo/auth.hcl" >"$demo/pg/db-client.cas"

step "PostgreSQL host: ssl = on, the files above, hostssl ... cert"
[ "$(id -u)" = 0 ] && chown -R postgres "$demo/pg"
as_pg "$pgbin/initdb" -D "$demo/pg/data" -U postgres -A trust >/dev/null
printf 'local all all trust\nhostssl all all 127.0.0.1/32 cert\n' >"$demo/pg/data/pg_hba.conf"
as_pg "$pgbin/postgres" -D "$demo/pg/data" -c port=$pgport -c listen_addresses=127.0.0.1 \
	-c unix_socket_directories="$demo/pg" -c ssl=on -c ssl_cert_file="$demo/pg/server.crt" \
	-c ssl_key_file="$demo/pg/server.key" -c ssl_ca_file="$demo/pg/db-client.cas" >"$demo/pg.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 200); do "$pgbin/pg_isready" -q -h "$demo/pg" -p $pgport && break; sleep 0.05; done
if ! "$pgbin/pg_isready" -q -h "$demo/pg" -p $pgport; then
	echo "PostgreSQL did not start; its log:" >&2
	cat "$demo/pg.log" >&2
	exit 1
fi
echo "PostgreSQL is up on 127.0.0.1:$pgport (only certificate logins over TLS)"

step "MariaDB host: the same server certificate, the db-client authority, users that log in by certificate subject"
mkdir -p "$demo/maria"
cp "$demo/pg/server.crt" "$demo/pg/server.key" "$demo/pg/db-client.cas" "$demo/maria/"
cat >"$demo/maria/my.cnf" <<EOF
[mariadbd]
datadir=$demo/maria/data
socket=$demo/maria/mysqld.sock
pid-file=$demo/maria/mysqld.pid
log-error=$demo/maria/error.log
bind-address=127.0.0.1
port=$mariaport
ssl-cert=$demo/maria/server.crt
ssl-key=$demo/maria/server.key
ssl-ca=$demo/maria/db-client.cas
require-secure-transport=ON
skip-name-resolve
innodb-buffer-pool-size=32M
EOF
[ "$(id -u)" = 0 ] && chown -R mysql "$demo/maria"
as_mysql mariadb-install-db --defaults-file="$demo/maria/my.cnf" --basedir=/usr --auth-root-authentication-method=normal --skip-test-db >/dev/null
as_mysql /usr/sbin/mariadbd --defaults-file="$demo/maria/my.cnf" &
pids+=($!)
for _ in $(seq 1 300); do mariadb-admin --no-defaults -S "$demo/maria/mysqld.sock" -u root ping >/dev/null 2>&1 && break; sleep 0.1; done
run mariadb --no-defaults -S "$demo/maria/mysqld.sock" -u root -e "CREATE USER 'alice'@'%' REQUIRE SUBJECT '/CN=alice'; CREATE DATABASE shop; GRANT ALL ON shop.* TO 'alice'@'%'"
echo "MariaDB is up on 127.0.0.1:$mariaport (only certificate logins over TLS)"

step "Database agent host"
run "$K" db configure create -o "$demo/agent.hcl" --token="$demo/token" --proxy=$proxy \
	--name=example-postgres --protocol=postgres --uri=127.0.0.1:$pgport --labels=env=dev --data-dir="$demo/agent"
# A second database on the same agent, and the plugin that serves it.
sed -i '$ d' "$demo/agent.hcl"
printf '\n  database "example-mariadb" {\n    protocol = "mysql"\n    uri      = "127.0.0.1:%s"\n    labels   = { env = "dev" }\n  }\n}\n\n%s\n' $mariaport "$plugin_block" >>"$demo/agent.hcl"
run cat "$demo/agent.hcl"
run "$K" install systemd -o "$demo/keyway.service" -c "$demo/agent.hcl"
"$K" start -c "$demo/agent.hcl" --ready-file="$demo/agent.ready" >"$demo/agent.log" 2>&1 &
pids+=($!)
printf '\033[2m$ keyway start -c %s --ready-file=%s &   (log: %s)\033[0m\n' "$demo/agent.hcl" "$demo/agent.ready" "$demo/agent.log"
wait_ready "$demo/agent.ready" "${pids[-1]}" "$demo/agent.log"

step "User alice: first login redeems the invite and sets her password"
printf '\033[2m$ keyway login --proxy=%s --user=alice --ca-pin=%s --invite-file=invite --password-stdin\033[0m\n' $proxy "$pin"
echo "correct horse battery staple" | "$K" login --proxy=$proxy --user=alice --ca-pin="$pin" --invite-file="$demo/invite" --password-stdin
for _ in $(seq 1 200); do "$K" db ls | grep -q 'example-mariadb.*healthy' && "$K" db ls | grep -q 'example-postgres.*healthy' && break; sleep 0.05; done
run "$K" db ls
run "$K" db connect --db-user=postgres --db-name=postgres example-postgres -- -c "select current_user, version()"
run "$K" db connect --db-user=alice --db-name=shop example-mariadb -- -e "select current_user(), version()"
"$K" proxy db --port=15433 example-postgres --db-user=postgres >"$demo/proxy-db.log" 2>&1 &
pids+=($!)
printf '\033[2m$ keyway proxy db --port=15433 example-postgres --db-user=postgres &\033[0m\n'
for _ in $(seq 1 100); do grep -q serving "$demo/proxy-db.log" 2>/dev/null && break; sleep 0.05; done
run psql "host=127.0.0.1 port=15433 user=postgres dbname=postgres sslmode=disable" -c "select 'through keyway proxy db' as path"
"$K" proxy db --port=13308 example-mariadb --db-user=alice --db-name=shop >"$demo/proxy-db-maria.log" 2>&1 &
pids+=($!)
printf '\033[2m$ keyway proxy db --port=13308 example-mariadb --db-user=alice --db-name=shop &\033[0m\n'
for _ in $(seq 1 100); do grep -q serving "$demo/proxy-db-maria.log" 2>/dev/null && break; sleep 0.05; done
run mariadb --no-defaults --protocol=TCP -h 127.0.0.1 -P 13308 -u alice -D shop -e "select 'through keyway proxy db' as path"
step "A denial reads like this (alice asks for a database user her traits do not allow)"
run "$K" users update alice --db-users=app -c "$demo/auth.hcl"
echo "correct horse battery staple" | "$K" login --proxy=$proxy --user=alice --ca-pin="$pin" --password-stdin >/dev/null
run "$K" db connect --db-user=postgres example-postgres -- -c "select 1" || true
run "$K" db logout
run "$K" logout
step "done: everything ran under $demo and is stopped now"

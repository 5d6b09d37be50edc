#!/usr/bin/env bash
# make demo: build keyway and the example plugin, start keyway with a
# configuration that loads the example from its own binary, relay one HTTP
# request through it, list the plugins, and stop keyway with SIGTERM.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
demo=$root/.demo
rm -rf "$demo" && mkdir -p "$demo"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "building the example plugin against sdk/ only (examples/tcprelay)"
(cd examples/tcprelay && go build -o "$demo/tcprelay" .)
sum=$(sha256sum "$demo/tcprelay" | cut -d' ' -f1)

step "starting an upstream HTTP server on 127.0.0.1:18080"
mkdir -p "$demo/www" && echo "hello through keyway" > "$demo/www/index.html"
python3 -m http.server 18080 --bind 127.0.0.1 --directory "$demo/www" >"$demo/http.log" 2>&1 &
http_pid=$!

cat > "$demo/keyway.hcl" <<HCL
cluster_name = "example"
data_dir     = "$demo/data"

plugin "tcprelay" {
  command = "$demo/tcprelay"
  sha256  = "$sum"
  config {
    upstream = "127.0.0.1:18080"
  }
}

listener "web" {
  address  = "127.0.0.1:17000"
  protocol = "tcprelay"
}
HCL
step "configuration ($demo/keyway.hcl)"
cat "$demo/keyway.hcl"

step "bin/keyway config validate"
bin/keyway config validate -c "$demo/keyway.hcl"

step "bin/keyway start (logs in $demo/keyway.log)"
bin/keyway start -c "$demo/keyway.hcl" >"$demo/keyway.log" 2>&1 &
keyway_pid=$!
cleanup() { kill "$keyway_pid" "$http_pid" 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 1 200); do
	[ -S "$demo/data/keyway.sock" ] && curl -fsS --unix-socket "$demo/data/keyway.sock" http://keyway/v1/ready >/dev/null 2>&1 && break
	kill -0 "$keyway_pid" 2>/dev/null || { cat "$demo/keyway.log"; exit 1; }
	sleep 0.05
done
for _ in $(seq 1 100); do
	curl -fsS -o /dev/null http://127.0.0.1:18080/ 2>/dev/null && break
	sleep 0.05
done

step "curl http://127.0.0.1:17000/ (through keyway and the tcprelay plugin)"
curl -fsS http://127.0.0.1:17000/

step "bin/keyway plugins ls"
bin/keyway plugins ls -c "$demo/keyway.hcl"

step "stopping keyway with SIGTERM"
kill -TERM "$keyway_pid"
wait "$keyway_pid"
echo "keyway exited cleanly; its log:"
cat "$demo/keyway.log"

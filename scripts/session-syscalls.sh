#!/usr/bin/env bash
# session-syscalls.sh BIN [PATH]
#
# Runs a quick bench of PATH (keyway, the default, or keyway-agent) with
# the keyway binary BIN and, while PATH runs its -C cell (select-only,
# 8 clients, a new connection per transaction), counts with perf stat
# what each keyway process does for 8 seconds. Prints, per session
# opened: CPU time, write and read system calls, context switches.
# Needs perf and what make bench needs. Run from the repository's root.
set -euo pipefail

bin=$(realpath "${1:?usage: $0 BIN [keyway|keyway-agent]}")
path=${2:-keyway}
case $path in
keyway) before='-C direct-tls' ;;
keyway-agent) before='-C keyway ' ;;
*) echo "path $path: want keyway or keyway-agent" >&2; exit 2 ;;
esac
out=$(mktemp -d)
go build -o "$out/bench" ./bench/cmd/bench
"$out/bench" -quick -keyway "$bin" -paths "$path" -clients 8 -T 14s -runs 1 \
	-sessions 20 -stream-mb 10 -out "$out/results.json" >"$out/bench.log" 2>&1 &
bench=$!
# The cell before PATH's -C run has printed its line: PATH's run starts.
until grep -q -- "$before" "$out/bench.log"; do
	sleep 0.2
	kill -0 $bench 2>/dev/null || { cat "$out/bench.log"; exit 1; }
done
sleep 2
events=syscalls:sys_enter_write,syscalls:sys_enter_read,context-switches,task-clock
pids=$(pgrep -f "^$bin ")
for p in $pids; do
	ps -o args= -p "$p" | cut -c1-60 >"$out/name-$p.txt"
	perf stat -x, -e "$events" -p "$p" -- sleep 8 2>"$out/stat-$p.txt" &
done
wait $(jobs -p | grep -v "^$bench\$") 2>/dev/null || true
wait $bench
rate=$(grep -- "-C $path " "$out/bench.log" | awk '{print $(NF-3)}')
echo "$path: $rate sessions a second in its -C run"
printf '%-60s %9s %7s %7s %7s\n' process cpu_us writes reads cswitch
for p in $pids; do
	[ -s "$out/stat-$p.txt" ] || continue
	awk -F, -v rate="$rate" -v name="$(cat "$out/name-$p.txt")" '
		$3 ~ /sys_enter_write/ { w = $1 } $3 ~ /sys_enter_read/ { r = $1 }
		$3 ~ /context-switches/ { cs = $1 } $3 ~ /task-clock/ { tc = $1 }
		END { n = rate * 8; if (n == 0) exit
			printf "%-60s %9.0f %7.1f %7.1f %7.1f\n", name, tc / n * 1000, w / n, r / n, cs / n }' "$out/stat-$p.txt"
done
echo "(bench output and perf files in $out)"

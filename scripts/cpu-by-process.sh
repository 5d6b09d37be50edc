#!/usr/bin/env bash
# cpu-by-process.sh SECONDS PID... prints, every half second for SECONDS,
# the milliseconds of CPU each process ran in that half second, from the
# kernel's own accounting (/proc/PID/task/*/schedstat, all threads). It
# is how bench/README.md splits a path's CPU between keyway's processes
# while `go run ./bench/cmd/bench` runs in another shell.
set -euo pipefail
if [[ $# -lt 2 ]]; then
	echo "usage: $0 SECONDS PID..." >&2
	exit 2
fi
seconds=$1
shift
ran_ms() {
	cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ns += $1} END {printf "%d", ns / 1e6}'
}
declare -A last
for p in "$@"; do last[$p]=$(ran_ms "$p"); done
echo "time_s $*"
start=$(date +%s.%N)
for ((i = 0; i < seconds * 2; i++)); do
	sleep 0.5
	line=$(awk -v s="$start" -v n="$(date +%s.%N)" 'BEGIN {printf "%.1f", n - s}')
	for p in "$@"; do
		now=$(ran_ms "$p")
		line+=" $((now - last[$p]))"
		last[$p]=$now
	done
	echo "$line"
done

#!/usr/bin/env bash
# bench-footprint.sh — the agent at rest, side by side with
# fusioninventory-agent in daemon mode: resident memory and CPU time per hour.
# Both run on this machine for the same window, both pointed at a collector
# address on loopback where nothing listens (so each keeps retrying, as a
# laptop off the network does). Prints a markdown table.
#
#   scripts/bench-footprint.sh [SECONDS]   measuring window (default 120)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
window=${1:-${BENCH_FOOTPRINT_SECONDS:-120}}
warmup=20

if ! command -v fusioninventory-agent >/dev/null; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y --no-install-recommends fusioninventory-agent >/dev/null 2>&1 ||
		{ apt-get update >/dev/null && apt-get install -y --no-install-recommends fusioninventory-agent >/dev/null; }
fi
[ -x bin/umbra-agent ] || make -s build

tmp=$(mktemp -d "${TMPDIR:-/tmp}/umbra-footprint.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT

# Port 1 on loopback: refused at once, nothing is ever sent anywhere else.
cat >"$tmp/agent.yaml" <<YAML
collector: https://127.0.0.1:1
state_dir: $tmp/agent-state
start_delay: 1s
YAML
bin/umbra-agent run --config "$tmp/agent.yaml" --log-level error >/dev/null 2>&1 &
pids+=($!)
umbra=$!
fusioninventory-agent --daemon --no-fork --no-httpd --server http://127.0.0.1:1/ --logger=stderr >/dev/null 2>&1 &
pids+=($!)
fi=$!

ticks() { awk '{print $14 + $15 + $16 + $17}' "/proc/$1/stat"; } # utime stime cutime cstime
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }

sleep "$warmup" # both have started and done their first round
declare -A t0 rssmax
for p in $umbra $fi; do t0[$p]=$(ticks "$p"); rssmax[$p]=0; done
end=$((SECONDS + window))
while [ $SECONDS -lt $end ]; do
	for p in $umbra $fi; do
		kill -0 "$p" 2>/dev/null || { echo "pid $p exited during the window" >&2; exit 1; }
		r=$(rss_kib "$p"); [ "$r" -gt "${rssmax[$p]}" ] && rssmax[$p]=$r
	done
	sleep 1
done
hz=$(getconf CLK_TCK)
row() { # name pid
	local d=$(( $(ticks "$2") - ${t0[$2]} ))
	awk -v n="$1" -v d="$d" -v hz="$hz" -v w="$window" -v rss="$(rss_kib "$2")" -v max="${rssmax[$2]}" -v hwm="$(hwm_kib "$2")" \
		'BEGIN { printf "| %s | %.1f | %.1f | %.1f | %.2f |\n", n, rss/1024, max/1024, hwm/1024, d/hz*3600/w }'
}
echo "### Idle footprint (${window}s window after ${warmup}s warm-up, collector unreachable)"
echo
echo "| agent | RSS now (MiB) | RSS max in window (MiB) | peak RSS since start (MiB) | CPU seconds per hour |"
echo "| --- | ---: | ---: | ---: | ---: |"
row "umbra-agent run" "$umbra"
row "fusioninventory-agent --daemon" "$fi"

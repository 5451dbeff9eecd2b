#!/usr/bin/env bash
# bench-inventory.sh: umbra-agent's inventory against Debian's
# fusioninventory-agent on this host, in the same run: wall time and peak
# RSS (GNU time), median of N runs each, and the software entries each
# finds. Needs root for apt-get when a tool is missing.
#
#   scripts/bench-inventory.sh [runs]      (default 5)
#
# The peer runs its local inventory task only (--local, --tasks=inventory)
# without the process and environment categories, which umbra does not
# collect: that makes the peer faster, never slower.
set -euo pipefail

runs=${1:-5}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

need() { # need <command> <package>
	command -v "$1" >/dev/null 2>&1 && return
	echo "installing $2" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$2" >"$work/apt.log" 2>&1 ||
		{ cat "$work/apt.log" >&2; exit 1; }
}
need fusioninventory-agent fusioninventory-agent
[ -x /usr/bin/time ] || need /usr/bin/time time
command -v go >/dev/null || { echo "go not found" >&2; exit 1; }

umbra="$work/umbra-agent"
(cd "$here/agent" && go build -trimpath -o "$umbra" ./cmd/umbra-agent)

# measure <name> <out-file> cmd...: appends "name wall_s rss_kib" to $work/runs
measure() {
	local name=$1 out=$2
	shift 2
	/usr/bin/time -v -o "$work/time.txt" "$@" >"$out" 2>"$work/stderr.txt" ||
		{ echo "$name failed:" >&2; cat "$work/stderr.txt" >&2; exit 1; }
	awk -v n="$name" '
		/Elapsed \(wall clock\)/ { t = $NF; k = split(t, p, ":"); s = 0; for (i = 1; i <= k; i++) s = s * 60 + p[i] }
		/Maximum resident set size/ { r = $NF }
		END { printf "%s %.3f %d\n", n, s, r }' "$work/time.txt" >>"$work/runs"
}

mkdir -p "$work/fi"
for i in $(seq "$runs"); do
	measure umbra "$work/umbra.json" "$umbra" inventory --json
	rm -f "$work/fi"/*
	measure fusioninventory "$work/fi.out" fusioninventory-agent --local "$work/fi" --tasks=inventory \
		--no-category=process,environment
done

median() { # median <name> <column>
	awk -v n="$1" -v c="$2" '$1 == n { print $c }' "$work/runs" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
uw=$(median umbra 2) ur=$(median umbra 3)
fw=$(median fusioninventory 2) fr=$(median fusioninventory 3)

us=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1])).get("software") or []))' "$work/umbra.json")
fs=$(cat "$work"/fi/* | grep -o '<SOFTWARES>' | wc -l)
usv=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1])).get("services") or []))' "$work/umbra.json")

printf '\ninventory of %s, %d runs each, medians\n\n' "$(hostname)" "$runs"
awk -v uw="$uw" -v ur="$ur" -v us="$us" -v fw="$fw" -v fr="$fr" -v fs="$fs" -v usv="$usv" 'BEGIN {
	printf "%-24s %10s %14s %10s\n", "tool", "wall_s", "peak_rss_MiB", "software"
	printf "%-24s %10.3f %14.1f %10d\n", "umbra-agent", uw, ur / 1024, us
	printf "%-24s %10.3f %14.1f %10d\n", "fusioninventory-agent", fw, fr / 1024, fs
	printf "%-24s %10.3f %14.3f %10.3f\n", "ratio umbra/peer", uw / fw, ur / fr, us / fs
	printf "\n(umbra also listed %d services; targets: wall <= 0.1, rss <= 0.25 of the peer)\n", usv
}'

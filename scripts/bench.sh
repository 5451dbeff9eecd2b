#!/usr/bin/env bash
# bench.sh — what `make bench` runs: Umbra against the peer tools measured in
# the same run, on this machine. Figures go to the terminal and to
# .umbra/bench/results.md.
#
#   scan       umbra-agent scan vs nmap -sn and arp-scan, on the namespace
#              test bed's /24 (the scanner namespace has no default route;
#              nothing outside the test bed is touched). Needs root.
#   inventory  umbra-agent inventory vs fusioninventory-agent (when
#              scripts/bench-inventory.sh exists).
#   footprint  the idle agent's RSS and CPU per hour vs fusioninventory-agent
#              in daemon mode (scripts/bench-footprint.sh).
#   go         the Go benchmarks (spool, parsers, ingest).
#
# BENCH_RUNS (5) sets the repetitions; BENCH_ONLY=scan|inventory|footprint|go
# runs one.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
runs=${BENCH_RUNS:-5}
only=${BENCH_ONLY:-}
out=$root/.umbra/bench
mkdir -p "$out"
results=$out/results.md
: >"$results"

say() { printf '\n==> %s\n' "$*"; }
want() { [ -z "$only" ] || [ "$only" = "$1" ]; }

# median of numbers on stdin
median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# now in seconds with nanoseconds
now() { date +%s.%N; }

apt_need() {
	local missing=()
	for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" = 0 ] || { echo "bench: need ${missing[*]} (apt-get install ${missing[*]})" >&2; return 1; }
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1 ||
		{ apt-get update >/dev/null && apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; }
}

make -s build

if want scan; then
	say "scan: umbra-agent vs nmap and arp-scan on the test bed"
	[ "$(id -u)" = 0 ] || { echo "bench scan needs root (network namespaces)" >&2; exit 1; }
	scripts/testnet-deps.sh >/dev/null
	apt_need nmap arp-scan
	net=bench$$
	net=${net:0:20}
	cleanup() { scripts/testnet.sh down "$net" >/dev/null 2>&1 || true; }
	trap cleanup EXIT
	UMBRA_TESTNET_OWNER=$$ scripts/testnet.sh up "$net" --extra 99 >"$out/testnet.json"
	target=198.18.1.0/24
	expected=$(python3 -c '
import json, sys, ipaddress
d = json.load(open(sys.argv[1])); net = ipaddress.ip_network(sys.argv[2])
silent = set(d.get("silent") or [])
live = {h["ip"] for h in d.get("hosts", []) if h.get("role") != "scanner" and h.get("ip")
        and h["ip"] not in silent and ipaddress.ip_address(h["ip"]) in net}
print(len(live))' "$out/testnet.json" "$target" 2>/dev/null || echo "?")
	sx() { scripts/testnet.sh exec "$net" scanner "$@"; }
	# The scanner must have no default route: refuse to measure otherwise.
	if sx ip route show default | grep -q .; then echo "scanner namespace has a default route; refusing" >&2; exit 1; fi

	# Liveness only, like the peers: SNMP and mDNS are measured elsewhere.
	sweep_only=()
	if "$root/bin/umbra-agent" scan -h 2>&1 | grep -q -- --no-snmp; then sweep_only=(--no-snmp --no-mdns); fi
	count_ips() { python3 -c 'import json,sys; print(len({o.get("ip") for o in json.load(sys.stdin).get("observations") or [] if o.get("ip")}))'; }
	measure() { # name, count-command, command…
		local name=$1 count=$2; shift 2
		local times=() found=0 t0 t1
		for _ in $(seq "$runs"); do
			t0=$(now)
			found=$(sx "$@" 2>/dev/null | eval "$count")
			t1=$(now)
			times+=("$(awk -v a="$t1" -v b="$t0" 'BEGIN { print a - b }')")
		done
		local med; med=$(printf '%s\n' "${times[@]}" | median)
		printf '%s\t%s\t%s\n' "$name" "$med" "$found"
	}
	{
		measure "umbra-agent scan --profile fast" count_ips "$root/bin/umbra-agent" scan "$target" --profile fast "${sweep_only[@]}" --json
		measure "umbra-agent scan (polite)" count_ips "$root/bin/umbra-agent" scan "$target" "${sweep_only[@]}" --json
		measure "nmap -sn -n" "grep -c 'Host is up' || true" nmap -sn -n "$target"
		measure "nmap -sn -n -T5 --min-rate 1000" "grep -c 'Host is up' || true" nmap -sn -n -T5 --min-rate 1000 "$target"
		measure "arp-scan" "grep -cE '^198\\.18\\.' || true" arp-scan -I eth0 -q "$target"
	} >"$out/scan.tsv"
	awk -F'\t' -v expected="$expected" -v host="$(nproc) cores" '
		NR==1 {base=$2}
		{rows[NR]=$0; name[NR]=$1; t[NR]=$2; f[NR]=$3}
		END {
			printf "### Scan of a /24 with %s live hosts (test bed, median of runs, %s)\n\n", expected, host
			print "| tool | time (s) | hosts found | time vs umbra fast |"
			print "| --- | ---: | ---: | ---: |"
			for (i=1;i<=NR;i++) printf "| %s | %.3f | %s | %.1fx |\n", name[i], t[i], f[i], t[i]/base
		}' "$out/scan.tsv" | tee -a "$results"
	cleanup
	trap - EXIT
fi

if want inventory && [ -x scripts/bench-inventory.sh ]; then
	say "inventory: umbra-agent vs fusioninventory-agent"
	scripts/bench-inventory.sh | tee -a "$results"
fi

if want footprint; then
	say "footprint: idle agent vs fusioninventory-agent --daemon"
	scripts/bench-footprint.sh | tee -a "$results"
fi

if want go; then
	say "Go benchmarks"
	{
		echo
		echo "### Go benchmarks"
		echo
		echo '```'
		for m in shared agent collector; do
			(cd "$m" && go test -run '^$' -bench . -benchmem -count 1 ./... 2>&1 | grep -E '^(Benchmark|ok|FAIL)' | grep -v '^ok' || true)
		done
		echo '```'
	} | tee -a "$results"
fi

echo
echo "results in $results"

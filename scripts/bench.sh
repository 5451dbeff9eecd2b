#!/usr/bin/env bash
# bench.sh — what `make bench` runs: Umbra against the peer tools measured in
# the same run, on this machine. Figures go to the terminal and to
# .umbra/bench/results.md.
#
#   scan       umbra-agent scan vs nmap -sn and arp-scan (defaults and
#              tuned) for liveness, vs snmpbulkwalk for SNMP tables, and vs
#              fusioninventory-netdiscovery for discovery with SNMP, on the
#              namespace test bed's /24 (the scanner namespace has no default
#              route; nothing outside the test bed is touched). Needs root.
#              BENCH_SNMP_REPS (25) max-repetitions, BENCH_SNMP_RUNS (15) rounds
#              of the SNMP walks, BENCH_SWITCH_PORTS (250)
#              the switch's veth pairs, BENCH_FI_RUNS (1) fusioninventory runs.
#   inventory  umbra-agent inventory vs fusioninventory-agent (when
#              scripts/bench-inventory.sh exists).
#   ingest     umbra-loadgen's 1,000 agents against the collector, and software
#              rows/s end to end vs a raw clickhouse-client insert
#              (scripts/bench-ingest.sh).
#   footprint  the idle agent's RSS and CPU per hour vs fusioninventory-agent
#              in daemon mode (scripts/bench-footprint.sh).
#   reconcile  reconciliation at 1M devices / 5M generated observations:
#              the shadow report and 10,000 new observations reconciled
#              (scripts/bench-reconcile.sh; BENCH_RECONCILE_ROWS and
#              BENCH_RECONCILE_DEVICES set the scale).
#   go         the Go benchmarks (spool, parsers, ingest).
#
# BENCH_RUNS (5) sets the repetitions; BENCH_ONLY=scan|inventory|ingest|footprint|reconcile|go
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
	say "scan: umbra-agent vs nmap, arp-scan, snmpbulkwalk and fusioninventory-netdiscovery on the test bed"
	[ "$(id -u)" = 0 ] || { echo "bench scan needs root (network namespaces)" >&2; exit 1; }
	scripts/testnet-deps.sh >/dev/null
	apt_need nmap arp-scan snmp fusioninventory-agent-task-network
	net=bench$$
	net=${net:0:20}
	cleanup() { scripts/testnet.sh down "$net" >/dev/null 2>&1 || true; }
	trap cleanup EXIT
	# 99 extra plain hosts, and a switch whose ifTable has 502 rows (250
	# veth pairs), the size of the issue's snmpbulkwalk figure.
	ports=${BENCH_SWITCH_PORTS:-250}
	UMBRA_TESTNET_SWITCH_PORTS=$ports UMBRA_TESTNET_OWNER=$$ scripts/testnet.sh up "$net" --extra 99 >"$out/testnet.json"
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

	# 1. Liveness only, like the peers: no SNMP, mDNS, names or port
	# probe of live hosts (nmap -sn is "no port scan"; -n is no names).
	live_only=(--no-snmp --no-mdns --no-names --ports none)
	count_ips() { python3 -c 'import json,sys; print(len({o.get("ip") for o in json.load(sys.stdin).get("observations") or [] if o.get("ip") and o.get("method") in ("arp","icmp","tcp")}))'; }
	# measure: one row per tool; run_all times every tool once per round,
	# round after round, so that the load of a shared machine falls on all
	# of them alike, after one warm-up round that is not counted.
	tools=()
	measure() { # name, count-command, command…
		tools+=("$(printf '%q ' "$@")")
	}
	run_all() {
		local r i t0 t1 found
		for r in $(seq 0 "$runs"); do
			for i in "${!tools[@]}"; do
				eval "set -- ${tools[$i]}"
				local name=$1 count=$2; shift 2
				# Only the tool is timed; its output is counted afterwards.
				t0=$(now)
				sx "$@" >"$out/tool.out" 2>/dev/null || true
				t1=$(now)
				found=$(eval "$count" <"$out/tool.out")
				[ "$r" = 0 ] && continue
				printf '%s\t%s\t%s\n' "$i" "$(awk -v a="$t1" -v b="$t0" 'BEGIN { print a - b }')" "$found" >>"$out/rounds.tsv"
				names[$i]=$name
			done
		done
		for i in "${!tools[@]}"; do
			printf '%s\t%s\t%s\n' "${names[$i]}" \
				"$(awk -F'\t' -v i="$i" '$1 == i {print $2}' "$out/rounds.tsv" | median)" \
				"$(awk -F'\t' -v i="$i" '$1 == i {print $3}' "$out/rounds.tsv" | sort -n | head -1)"
		done
		tools=()
		: >"$out/rounds.tsv"
	}
	names=()
	: >"$out/rounds.tsv"
	# nmap counts the scanner itself as up: one less.
	nmap_up="grep -c 'Host is up' | awk '{print \$1 - 1}'"
	arp_up="grep -cE '^198\\.18\\.' || true"
	{
		measure "umbra-agent scan --profile fast (liveness)" count_ips "$root/bin/umbra-agent" scan "$target" --profile fast "${live_only[@]}" --json
		measure "umbra-agent scan (polite, liveness)" count_ips "$root/bin/umbra-agent" scan "$target" "${live_only[@]}" --json
		measure "nmap -sn -n" "$nmap_up" nmap -sn -n "$target"
		measure "nmap -sn -n -T5 --min-rate 1000 (tuned)" "$nmap_up" nmap -sn -n -T5 --min-rate 1000 "$target"
		measure "arp-scan" "$arp_up" arp-scan -I eth0 -q "$target"
		measure "arp-scan --bandwidth=10M --retry=1 (tuned)" "$arp_up" arp-scan -I eth0 -q --bandwidth=10M --retry=1 "$target"
		measure "arp-scan --bandwidth=10M --retry=2 --timeout=100 (tuned)" "$arp_up" arp-scan -I eth0 -q --bandwidth=10M --retry=2 --timeout=100 "$target"
		measure "umbra-agent scan (polite, liveness + 12 TCP ports of live hosts)" count_ips "$root/bin/umbra-agent" scan "$target" --no-snmp --no-mdns --no-names --json
		run_all
	} >"$out/scan.tsv"
	awk -F'\t' -v expected="$expected" -v host="$(nproc) cores" '
		{name[NR]=$1; t[NR]=$2; f[NR]=$3}
		name[NR] ~ /\(tuned\)/ && (best == "" || $2 < best) {best=$2; bestname=$1}
		name[NR] == "nmap -sn -n" {nmapdef=$2}
		END {
			printf "### Liveness of a /24 with %s live hosts (test bed, median of runs, %s)\n\n", expected, host
			print "| tool | time (s) | hosts found (worst run) | recall | time vs umbra fast |"
			print "| --- | ---: | ---: | ---: | ---: |"
			for (i=1;i<=NR;i++) printf "| %s | %.3f | %s | %s | %.1fx |\n", name[i], t[i], f[i], (expected+0 ? sprintf("%.0f%%", 100*f[i]/expected) : "?"), t[i]/t[1]
			printf "\n- fast / fastest tuned peer (%s): **%.2f** (target ≤ 0.8)\n", bestname, t[1]/best
			printf "- polite / nmap -sn default: **%.2f** (target < 1)\n\n", t[2]/nmapdef
		}' "$out/scan.tsv" | tee -a "$results"

	# 2. SNMP tables: IF-MIB ifTable and IP-MIB ipNetToMediaTable of the
	# switch, snmpbulkwalk against this package's walk, the same
	# max-repetitions. Ours runs as a test binary in the scanner namespace
	# (TestBenchWalk; it refuses to run where there is a default route).
	reps=${BENCH_SNMP_REPS:-25}
	sw=$(python3 -c 'import json,sys; print(next(h["ip"] for h in json.load(open(sys.argv[1]))["hosts"] if h["name"] == "switch"))' "$out/testnet.json")
	tables=(1.3.6.1.2.1.2.2 1.3.6.1.2.1.4.22)
	(cd agent && go test -c -o "$out/snmp.test" ./internal/discovery/snmp/) >/dev/null
	bulkwalk() { for o in "${tables[@]}"; do snmpbulkwalk -v2c -c umbra-ro -Cr"$reps" -On "$sw" "$o"; done; }
	snmp_tools=(
		"snmpbulkwalk -v2c -Cr$reps (one process per table)"
		"bash -c $(printf %q "$(declare -f bulkwalk); sw=$sw reps=$reps tables=(${tables[*]}); bulkwalk")"
		"umbra-agent snmp walk --max-repetitions $reps (one process, both tables)"
		"$(printf '%q ' "$root/bin/umbra-agent" snmp walk "$sw" "${tables[@]}" --snmp-community umbra-ro --max-repetitions "$reps")"
	)
	# A walk takes a fraction of a second, and the switch's snmpd now and
	# then reloads its interface cache in the middle of one (whichever
	# tool runs then pays about 0.15 s): more rounds than the other steps
	# (BENCH_SNMP_RUNS, 15) keep the medians steady.
	scan_runs=$runs
	runs=${BENCH_SNMP_RUNS:-15}
	{
		for i in 0 2; do
			eval "measure \"\${snmp_tools[$i]}\" \"grep -c ' = ' || true\" ${snmp_tools[$((i + 1))]}"
		done
		run_all
	} >"$out/snmp.tsv"
	# CPU time (user + system) of each, median of as many runs: on a
	# shared machine the steadier figure, and what the walk costs the
	# host besides the device's own work.
	scanner_ns=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["scanner"])' "$out/testnet.json")
	cpus=()
	for i in 0 2; do
		cpus+=("$(for _ in $(seq "$runs"); do
			eval "/usr/bin/time -f '%U %S' -o \"\$out/time.txt\" ip netns exec \"\$scanner_ns\" ${snmp_tools[$((i + 1))]}" >/dev/null 2>&1 || true
			awk '{print $1 + $2}' "$out/time.txt"
		done | median)")
	done
	inproc=$(sx env UMBRA_BENCH_SNMP="$sw umbra-ro $reps $runs ${tables[*]}" "$out/snmp.test" -test.run '^TestBenchWalk$' |
		awk '/^walk_median_seconds/ {print $2}')
	runs=$scan_runs
	awk -F'\t' -v reps="$reps" -v inproc="$inproc" -v ports="$ports" -v cpus="${cpus[*]}" -v n="${BENCH_SNMP_RUNS:-15}" '
		{name[NR]=$1; t[NR]=$2; f[NR]=$3}
		END {
			split(cpus, c, " ")
			printf "### SNMP: ifTable (%d interfaces) + ipNetToMediaTable of the switch, max-repetitions %d\n\n", 2*ports+2, reps
			print "| tool | time (s) | CPU user+sys (s) | rows | time vs snmpbulkwalk | CPU vs snmpbulkwalk |"
			print "| --- | ---: | ---: | ---: | ---: | ---: |"
			for (i=1;i<=NR;i++) printf "| %s | %.3f | %.3f | %s | %.2fx | %.2fx |\n", name[i], t[i], c[i], f[i], t[i]/t[1], (c[1] > 0 ? c[i]/c[1] : 0)
			if (inproc != "") printf "| umbra snmp walk, in process (median) | %.3f | | %s | %.2fx | |\n", inproc, f[2], inproc/t[1]
			printf "\n- medians of %d rounds\n\n", n
		}' "$out/snmp.tsv" | tee -a "$results"

	# 2b. One device's whole SNMP inventory (system, interfaces, ARP,
	# forwarding table, LLDP, ENTITY): fusioninventory-netinventory against
	# umbra-agent scan of that one address.
	timed_table() { # title, then rows of timed output on stdin
		awk -F'\t' -v title="$1" '
			{name[NR]=$1; t[NR]=$2; m[NR]=$3; f[NR]=$4}
			END {
				fi=NR
				print "### " title " (wall time, peak RSS)\n"
				print "| tool | time (s) | peak RSS (MB) | found | its time ÷ this | its memory ÷ this |"
				print "| --- | ---: | ---: | ---: | ---: | ---: |"
				for (i=1;i<=NR;i++) printf "| %s | %.2f | %.1f | %s | %.1fx | %.1fx |\n", name[i], t[i], m[i]/1024, f[i], t[fi]/t[i], m[fi]/m[i]
				print ""
			}'
	}
	# 3. Discovery with SNMP identification of the /24:
	# fusioninventory-netdiscovery (20 threads, 1 s SNMP timeout) against
	# umbra-agent scan, wall time and peak RSS.
	firuns=${BENCH_FI_RUNS:-1}
	timed() { # name, runs, count-command, command… → name, median s, max KB, found
		local name=$1 n=$2 count=$3; shift 3
		local times=() rss=0 found=0 tv="$out/time.txt"
		for _ in $(seq "$n"); do
			found=$(/usr/bin/time -v -o "$tv" ip netns exec "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["scanner"])' "$out/testnet.json")" "$@" 2>/dev/null | eval "$count")
			times+=("$(awk -F': ' '/Elapsed/ {n=split($2,a,":"); s=0; for (i=1;i<=n;i++) s=s*60+a[i]; print s}' "$tv")")
			rss=$(awk -v r="$rss" -F': ' '/Maximum resident/ {print ($2 > r ? $2 : r)}' "$tv")
		done
		printf '%s\t%s\t%s\t%s\n' "$name" "$(printf '%s\n' "${times[@]}" | median)" "$rss" "$found"
	}
	snmp_ips() { python3 -c 'import json,sys; print(len({o.get("ip") for o in json.load(sys.stdin).get("observations") or [] if o.get("method") == "snmp" and o.get("ip") and not o.get("via")}))'; }
	{
		timed "umbra-agent scan --profile fast (SNMP, mDNS, names, ports)" "$runs" snmp_ips \
			"$root/bin/umbra-agent" scan "$target" --profile fast --snmp-community umbra-ro --snmp-community public --json
		timed "umbra-agent scan (polite; SNMP, mDNS, names, ports)" "$runs" snmp_ips \
			"$root/bin/umbra-agent" scan "$target" --snmp-community umbra-ro --snmp-community public --json
		timed "fusioninventory-netdiscovery --threads 20" "$firuns" "grep -c '<AUTHSNMP>' || true" \
			fusioninventory-netdiscovery --first 198.18.1.1 --last 198.18.1.254 --credentials version:2c,community:umbra-ro \
			--credentials version:2c,community:public --threads 20 --timeout 1
	} >"$out/discovery.tsv"
	{
		timed "umbra-agent scan SWITCH/32 (SNMP: system, interfaces, ARP, FDB, LLDP, ENTITY)" "$runs" \
			"python3 -c 'import json,sys; print(sum(1 for o in json.load(sys.stdin).get(\"observations\") or [] if o.get(\"method\") in (\"snmp\",\"snmp-fdb\",\"snmp-arp\")))'" \
			"$root/bin/umbra-agent" scan "$sw/32" --snmp-community umbra-ro --no-mdns --no-names --json
		timed "fusioninventory-netinventory --host SWITCH" "$firuns" "grep -c '<PORT>' || true" \
			fusioninventory-netinventory --host "$sw" --credentials version:2c,community:umbra-ro --timeout 2
	} | timed_table "SNMP inventory of the switch ($((2 * ports + 2)) interfaces): observations vs ports reported" | tee -a "$results"
	{
		timed_table "Discovery with SNMP identification of the /24: hosts identified over SNMP" <"$out/discovery.tsv"
		printf -- "- targets: fusioninventory time ÷ umbra ≥ 20, memory ÷ umbra ≥ 10\n\n"
	} | tee -a "$results"
	cleanup
	trap - EXIT
fi

if want inventory && [ -x scripts/bench-inventory.sh ]; then
	say "inventory: umbra-agent vs fusioninventory-agent"
	scripts/bench-inventory.sh | tee -a "$results"
fi

if want ingest; then
	say "ingest: 1,000 simulated agents; rows/s against a raw clickhouse-client insert"
	scripts/bench-ingest.sh | tee -a "$results"
fi

if want footprint; then
	say "footprint: idle agent vs fusioninventory-agent --daemon"
	scripts/bench-footprint.sh | tee -a "$results"
fi

if want reconcile; then
	say "reconcile: the shadow report and 10,000 new observations against a generated fleet"
	scripts/bench-reconcile.sh | tee -a "$results"
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

#!/usr/bin/env bash
# bench-reconcile.sh — reconciliation at scale (issue #7), on this machine.
#
# A generator fills ClickHouse inside the server (INSERT … SELECT … FROM
# system.numbers: collector/internal/reconcile/generate.go) with
# BENCH_RECONCILE_ROWS (5,000,000; the issue's scale is 100,000,000, which
# takes hours to generate and build on a 2-core machine) observations of
# BENCH_RECONCILE_DEVICES
# (1,000,000) devices — hosts with global MACs, printers behind switch
# ports, phones and tablets rotating randomised MACs, hosts behind a router
# seen by IP only, switches over SNMP (some with placeholder serials),
# laptops with DHCP churn — and registers one device in a hundred. Then
# TestBenchReconcile builds the identifier graph from every observation,
# streams the whole shadow report once (every open unregistered-device
# finding, as an export does), and measures BENCH_RUNS (5) times its first
# page of 100 with the total (what `umbra report shadow` shows: from the
# reconciler's memory, and for comparison from the findings table alone)
# and the reconciliation of BENCH_RECONCILE_NEW (10,000) new observations.
# Targets: shadow report (first page) < 1 s, 10,000 new observations < 1 s.
# UMBRA_BENCH_DEBUG=1 logs the phases of each run; UMBRA_BENCH_CPUPROFILE=FILE
# profiles the runs (everything after the build and the whole report).
#
# The data lives in a private ClickHouse in BENCH_RECONCILE_DIR
# (.umbra/bench/clickhouse-reconcile) and is kept, so a second run reuses
# it (the generated database is named after its size); the server is
# stopped on exit. With UMBRA_TEST_CLICKHOUSE=host:port that server is used
# instead. Markdown results go to stdout and .umbra/bench/reconcile.md, the
# test's log to .umbra/bench/reconcile.log.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
rows=${BENCH_RECONCILE_ROWS:-5000000}
devices=${BENCH_RECONCILE_DEVICES:-1000000}
fresh=${BENCH_RECONCILE_NEW:-10000}
runs=${BENCH_RUNS:-5}
out=$root/.umbra/bench
dir=${BENCH_RECONCILE_DIR:-$out/clickhouse-reconcile}
mkdir -p "$out"
started=

cleanup() {
	trap - INT TERM EXIT
	if [ -n "$started" ]; then scripts/clickhouse.sh stop "$dir" >/dev/null 2>&1 || true; fi
}
trap cleanup INT TERM EXIT

addr=${UMBRA_TEST_CLICKHOUSE:-}
if [ -z "$addr" ]; then
	addr=$(scripts/clickhouse.sh start "$dir")
	started=1
fi
# The build's heap grows with the distinct observations (about 9 GB at the
# issue's 100 M): a memory limit makes the garbage collector keep it there
# rather than let it double between collections.
export GOMEMLIMIT=${GOMEMLIMIT:-$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) * 1024 * 3 / 4))}
t0=$(date +%s)
(cd collector && UMBRA_TEST_CLICKHOUSE=$addr UMBRA_BENCH_RECONCILE=1 UMBRA_BENCH_ROWS=$rows UMBRA_BENCH_DEVICES=$devices \
	UMBRA_BENCH_NEW=$fresh UMBRA_BENCH_RUNS=$runs go test -count=1 -timeout 0 -run '^TestBenchReconcile$' -v ./internal/reconcile/) \
	>"$out/reconcile.log" 2>&1 || { tail -30 "$out/reconcile.log" >&2; exit 1; }
t1=$(date +%s)
val() { awk -v k="$1" '$1 == "bench" && $2 == k {print $3}' "$out/reconcile.log" | tail -1; }
db=umbra_bench_${rows}_${devices}
port=${addr##*:}
disk=$(clickhouse-client --port "$port" -q "SELECT formatReadableSize(sum(bytes_on_disk)) FROM system.parts WHERE database = '$db' AND active" 2>/dev/null ||
	clickhouse-client --port "$port" -q "SELECT formatReadableSize(sum(bytes)) FROM system.parts WHERE database = '$db' AND active" 2>/dev/null || echo "?")
ok() { awk -v v="$1" 'BEGIN { print (v + 0 < 1 ? "yes" : "**no**") }'; }
{
	printf '### Reconciliation: %s observations of %s generated devices (%s cores, %s)\n\n' "$(val observations)" "$(val generated_devices)" "$(nproc)" "$(date -u +%FT%TZ)"
	echo "| measure | value | target |"
	echo "| --- | ---: | --- |"
	[ -n "$(val generate_seconds)" ] && printf '| generate the observations in ClickHouse (s) | %.1f | |\n' "$(val generate_seconds)"
	printf '| ClickHouse data of the database on disk | %s | |\n' "$disk"
	printf '| build the graph from every observation (s) | %.1f | |\n' "$(val build_seconds)"
	printf '| devices / open findings | %s / %s | |\n' "$(val devices)" "$(val findings_open)"
	printf '| Go heap after the build (MiB) | %s | |\n' "$(val heap_mib_after_build)"
	printf '| Go heap objects after the build (each collection marks them one by one) | %s | |\n' "$(val heap_objects_after_build)"
	printf '| collector resident memory after the build, and after the runs (MiB) | %s, %s | |\n' "$(val rss_mib_after_build)" "$(val rss_mib_after_runs)"
	printf '| shadow report, every open unregistered device streamed (%s rows), once (s) | %.3f | < 1 s: %s |\n' "$(val shadow_rows)" "$(val shadow_report_full_seconds_median)" "$(ok "$(val shadow_report_full_seconds_median)")"
	printf '| shadow report, first page of 100 + total, median (s) | %.3f | < 1 s: %s |\n' "$(val shadow_report_page_seconds_median)" "$(ok "$(val shadow_report_page_seconds_median)")"
	printf '| the same page from the findings table alone, median (s) | %.3f | |\n' "$(val shadow_report_page_from_table_seconds_median)"
	printf '| reconcile %s new observations, median of %s (s) | %.3f | < 1 s: %s |\n' "$fresh" "$runs" "$(val reconcile_new_seconds_median)" "$(ok "$(val reconcile_new_seconds_median)")"
	printf '| reconcile %s new observations: runs under 1 s; p90 (s) | %s of %s; %.3f | every run < 1 s: %s |\n' "$fresh" "$(val reconcile_new_runs_under_1s)" "$runs" "$(val reconcile_new_seconds_p90)" "$(awk -v u="$(val reconcile_new_runs_under_1s)" -v n="$runs" 'BEGIN { print (u + 0 == n + 0 ? "yes" : "**no**") }')"
	printf '\n- every run (s): %s; CPU seconds the collector used in a run (every thread), median: %s; garbage collections completed during the runs: %s, using %s CPU seconds in all; whole benchmark %d s; load average at the end: %s\n\n' "$(awk '$1 == "bench" && $2 == "reconcile_new_seconds_all" {$1=$2=""; print}' "$out/reconcile.log")" "$(printf '%.2f' "$(val reconcile_new_cpu_seconds_median)")" "$(val collections_during_runs)" "$(printf '%.1f' "$(val gc_cpu_seconds_during_runs)")" "$((t1 - t0))" "$(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$out/reconcile.md"

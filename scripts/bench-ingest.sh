#!/usr/bin/env bash
# bench-ingest.sh — the collector's ingest under load, on this machine.
#
#   1. latency: BENCH_AGENTS (1000) simulated agents enrol and post one
#      inventory of 200 packages each, all at once; p99 target < 2 s.
#   2. throughput: BENCH_TP_AGENTS (200) agents × BENCH_TP_REPORTS (5)
#      reports × BENCH_TP_PACKAGES (500) packages; software rows/s from the
#      first report sent to the last accepted, checked against count() in
#      host_software FINAL, side by side with a raw clickhouse-client TSV
#      insert of the same rows into the same table in a fresh database.
#      Targets: ≥ 50% of raw and ≥ 50,000 rows/s.
#
# A private ClickHouse and collector in a temporary folder, on loopback,
# on free ports; both are stopped on exit. Markdown results go to stdout
# and to .umbra/bench/ingest.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
agents=${BENCH_AGENTS:-1000}
tp_agents=${BENCH_TP_AGENTS:-200}
tp_reports=${BENCH_TP_REPORTS:-5}
tp_packages=${BENCH_TP_PACKAGES:-500}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/umbra-bench-ingest.XXXXXX")
bin=$tmp/bin
db=umbra_bench
rawdb=umbra_bench_raw
collector_pid=

say() { printf '==> %s\n' "$*" >&2; }

cleanup() {
	trap - INT TERM EXIT
	if [ -n "$collector_pid" ] && kill -0 "$collector_pid" 2>/dev/null; then
		kill -TERM "$collector_pid" 2>/dev/null || true
		wait "$collector_pid" 2>/dev/null || true
	fi
	"$root/scripts/clickhouse.sh" stop "$tmp/clickhouse" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup INT TERM EXIT

say "building"
mkdir -p "$bin"
(cd collector && go build -trimpath -o "$bin/" ./cmd/umbra-collector ./cmd/umbra ./cmd/umbra-loadgen)

say "starting ClickHouse"
ch=$("$root/scripts/clickhouse.sh" start "$tmp/clickhouse")
if command -v clickhouse-client >/dev/null 2>&1; then chc=(clickhouse-client); else chc=(clickhouse client); fi
chc+=(--host "${ch%:*}" --port "${ch##*:}")

say "starting the collector"
cstate=$tmp/collector
flags=(--state-dir "$cstate" --clickhouse "$ch" --database "$db" --listen 127.0.0.1:0)
"$bin/umbra-collector" "${flags[@]}" --addr-file "$tmp/collector.url" >"$tmp/collector.log" 2>&1 &
collector_pid=$!
deadline=$((SECONDS + 60))
until [ -s "$tmp/collector.url" ] && [ -s "$cstate/ca.pem" ] &&
	curl -fsS --cacert "$cstate/ca.pem" "$(cat "$tmp/collector.url")/readyz" >/dev/null 2>&1; do
	if ! kill -0 "$collector_pid" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
		echo "the collector did not come up; its log:" >&2
		tail -n 30 "$tmp/collector.log" >&2
		exit 1
	fi
	sleep 0.2
done
url=$(cat "$tmp/collector.url")
"$bin/umbra-collector" bootstrap-token "${flags[@]}" --addr-file "$tmp/collector.url" >/dev/null
export UMBRA_CONFIG=$cstate/admin.json

loadgen() { # secret-name agents reports packages → JSON on stdout
	"$bin/umbra" enroll-secret create --name "$1" --ttl 1h --max-uses "$2" >"$tmp/$1.secret"
	"$bin/umbra-loadgen" --collector "$url" --ca-file "$cstate/ca.pem" --secret-file "$tmp/$1.secret" \
		--agents "$2" --reports-per-agent "$3" --packages "$4" --json || [ $? -eq 1 ] # 1: some failed, shown below
}
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
rows_in() { "${chc[@]}" --query "SELECT count() FROM $1.host_software FINAL"; }

say "latency: $agents agents × 1 report × 200 packages, all at once"
loadgen bench-latency "$agents" 1 200 >"$tmp/latency.json"
rows_before=$(rows_in "$db")

say "throughput: $tp_agents agents × $tp_reports reports × $tp_packages packages"
loadgen bench-throughput "$tp_agents" "$tp_reports" "$tp_packages" >"$tmp/throughput.json"
rows_after=$(rows_in "$db")
stored=$((rows_after - rows_before))

say "raw: clickhouse-client INSERT … FORMAT TSV of the same number of rows"
"$bin/umbra-loadgen" --tsv "$tmp/rows.tsv" --agents "$tp_agents" --reports-per-agent "$tp_reports" --packages "$tp_packages"
"${chc[@]}" --query "CREATE DATABASE $rawdb"
"${chc[@]}" --query "CREATE TABLE $rawdb.host_software AS $db.host_software"
cols=$("${chc[@]}" --query "DESCRIBE TABLE $db.host_software" | cut -f1 | paste -sd, - | sed 's/,/, /g')
want_cols="agent_id, report_id, collected_at, op, source, key_id, arch, scope, name, package_id, version, publisher, install_date, size_bytes, location"
[ "$cols" = "$want_cols" ] || { echo "host_software columns changed: $cols" >&2; exit 1; }
t0=$(date +%s.%N)
"${chc[@]}" --query "INSERT INTO $rawdb.host_software ($want_cols) FORMAT TSV" <"$tmp/rows.tsv"
t1=$(date +%s.%N)
raw_rows=$(rows_in "$rawdb")

python3 - "$tmp/latency.json" "$tmp/throughput.json" "$stored" "$raw_rows" "$t0" "$t1" <<'PY' | tee "$root/.umbra/bench/ingest.md" 2>/dev/null || true
import json, sys
lat, tp = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
stored, raw_rows, t0, t1 = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
raw_s = t1 - t0
e2e = stored / tp["wall_seconds"] if tp["wall_seconds"] else 0
raw = raw_rows / raw_s if raw_s else 0
ratio = e2e / raw if raw else 0
ok = lambda b: "✅" if b else "❌"
errs = lambda s: ", ".join(f"{k}×{v}" for k, v in sorted(s["statuses"].items())) or "none"
print(f"### Ingest latency: {lat['agents']} agents at once, 1 report × 200 packages each\n")
print("| accepted | p50 | p95 | p99 | max | reports/s | errors (retried or not) | p99 < 2 s |")
print("|---|---|---|---|---|---|---|---|")
print(f"| {lat['accepted']}/{lat['reports']} | {lat['latency_p50_seconds']:.3f} s | {lat['latency_p95_seconds']:.3f} s "
      f"| {lat['latency_p99_seconds']:.3f} s | {lat['latency_max_seconds']:.3f} s | {lat['reports_per_sec']:.0f} "
      f"| {errs(lat)} | {ok(lat['latency_p99_seconds'] < 2 and lat['failed'] == 0)} |")
print(f"\n### Software rows into ClickHouse: {tp['agents']} agents × {tp['reports'] // max(tp['agents'],1)} reports "
      f"× {tp['software_rows'] // max(tp['reports'],1)} packages\n")
print("| path | rows (count FINAL) | seconds | rows/s |")
print("|---|---|---|---|")
print(f"| collector end to end (HTTPS, gzip JSON, {tp['agents']} agents) | {stored} | {tp['wall_seconds']:.2f} | {e2e:,.0f} |")
print(f"| raw clickhouse-client INSERT … FORMAT TSV | {raw_rows} | {raw_s:.2f} | {raw:,.0f} |")
print(f"\nRatio {ratio:.0%} of raw (target ≥ 50% {ok(ratio >= 0.5)}); {e2e:,.0f} rows/s (target ≥ 50,000 {ok(e2e >= 50000)}); "
      f"report latency p99 {tp['latency_p99_seconds']:.3f} s, errors {errs(tp)}, failed {tp['failed']}.")
for name, s in (("latency", lat), ("throughput", tp)):
    if s.get("first_error"):
        print(f"\n{name} run: {s['enrolled']}/{s['agents']} enrolled, {s['failed']} reports failed; first error: {s['first_error']}")
if stored != tp["software_rows"]:
    print(f"\n**Mismatch**: the collector accepted {tp['software_rows']} rows but host_software holds {stored}.")
PY

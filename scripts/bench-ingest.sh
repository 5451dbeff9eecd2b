#!/usr/bin/env bash
# bench-ingest.sh — the collector's ingest under load, on this machine.
#
#   1. latency: BENCH_AGENTS (1000) simulated agents enrol and, once
#      ClickHouse has merged the enrolment's writes, post one inventory of
#      200 packages each, all at once, each on a new TLS connection that
#      resumes the agent's own TLS session (of its enrolment), as a real
#      agent's report resumes that of its last report; p99 target < 2 s.
#   2. throughput: BENCH_TP_AGENTS (200) agents × BENCH_TP_REPORTS (5)
#      reports × BENCH_TP_PACKAGES (500) packages; software rows/s from the
#      first report sent to the last accepted, checked against count() in
#      host_software FINAL, side by side with a raw clickhouse-client TSV
#      insert of the same rows into the same table in a fresh database.
#      Targets: ≥ 50% of raw and ≥ 50,000 rows/s.
#
# A private ClickHouse and collector in a temporary folder, on loopback,
# on free ports; both are stopped on exit. Markdown results go to stdout
# and to .umbra/bench/ingest.md. The CPU seconds the collector, ClickHouse
# and the load generator each spent in a phase are reported beside it (all
# three share this machine's cores), with the machine's load average: the
# figures are only as quiet as the machine. Report errors and enrolment
# errors are counted apart; so are the CPU seconds and the collector's
# minor page faults from the start of the posting. BENCH_PROFILE=DIR also
# saves CPU profiles of the collector while the reports of each phase are
# posted, and its allocation profiles before and after (go tool pprof
# -sample_index=alloc_space -base PHASE.allocs-before.pprof PHASE.allocs.pprof).
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
profile_dir=${BENCH_PROFILE:-}

say() { printf '==> %s\n' "$*" >&2; }

cleanup() {
	trap - INT TERM EXIT
	if [ -n "$collector_pid" ] && kill -0 "$collector_pid" 2>/dev/null; then
		kill -TERM "$collector_pid" 2>/dev/null || true
		wait "$collector_pid" 2>/dev/null || true
	fi
	"$root/scripts/clickhouse.sh" stop "$tmp/clickhouse" >/dev/null 2>&1 || true
	if [ -n "${BENCH_KEEP:-}" ]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup INT TERM EXIT

say "building"
mkdir -p "$bin"
(cd collector && go build -trimpath -o "$bin/" ./cmd/umbra-collector ./cmd/umbra ./cmd/umbra-loadgen)

say "starting ClickHouse"
ch=$("$root/scripts/clickhouse.sh" start "$tmp/clickhouse")
if command -v clickhouse-client >/dev/null 2>&1; then chc=(clickhouse-client); else chc=(clickhouse client); fi
chc+=(--host "${ch%:*}" --port "${ch##*:}")
# chq QUERY: its answer over ClickHouse's HTTP port (scripts/clickhouse.sh
# puts it after the TCP port). The polls during a measured phase use this,
# not clickhouse-client: each start of that client takes a fifth of a CPU
# second, and whole seconds when its binary has left the page cache, which
# the polling loop then added to the phase it measured.
chhttp="http://${ch%:*}:$((${ch##*:} + 1))/"
chq() { curl -fsS --data-binary "$1" "$chhttp"; }

say "starting the collector"
cstate=$tmp/collector
flags=(--state-dir "$cstate" --clickhouse "$ch" --database "$db" --listen 127.0.0.1:0)
if [ -n "$profile_dir" ]; then
	mkdir -p "$profile_dir"
	profile_dir=$(cd "$profile_dir" && pwd)
	pprof_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	export UMBRA_PPROF_ADDR=127.0.0.1:$pprof_port
fi
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
ch_pid=$(cat "$tmp/clickhouse/pid")

# cpu PID: user+system CPU seconds the process has used so far.
cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }
# faults PID: minor page faults the process has taken so far (each is a
# page of memory it touched for the first time; costly on a VM).
faults() { awk '{ print $10 }' "/proc/$1/stat"; }
# scrape FILE: the collector's /metrics now (the admin token is read from a
# header file, not a command line).
printf 'Authorization: Bearer %s\n' "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$UMBRA_CONFIG")" >"$tmp/auth.header"
chmod 600 "$tmp/auth.header"
scrape() { curl -fsS --cacert "$cstate/ca.pem" -H "@$tmp/auth.header" -o "$1" "$url/metrics" || : >"$1"; }

loadgen() { # secret-name agents reports packages → JSON on stdout, CPU seconds in $tmp/$1.cpu
	"$bin/umbra" enroll-secret create --name "$1" --ttl 1h --max-uses "$2" >"$tmp/$1.secret"
	local c0 k0 prof=
	c0=$(cpu "$collector_pid") k0=$(cpu "$ch_pid")
	: >"$tmp/$1.log"
	rm -f "$tmp/$1.start"
	# The agents enrol first (one by one: the collector serialises
	# enrolments), then post all at once. Real agents enrolled long before
	# they report together: the posting waits until ClickHouse has merged
	# the enrolment's writes (thousands of one-row parts), at most a minute.
	(until grep -q 'waiting for' "$tmp/$1.log"; do sleep 0.1; done
		settle_deadline=$((SECONDS + 60)) quiet=0
		while [ $quiet -lt 3 ] && [ $SECONDS -lt $settle_deadline ]; do
			if [ "$(chq "SELECT count() FROM system.merges" 2>/dev/null)" = 0 ]; then
				quiet=$((quiet + 1))
			else
				quiet=0
			fi
			sleep 0.5
		done
		lg=$(pgrep -n -f "umbra-loadgen --collector") || lg=
		scrape "$tmp/$1.metrics-before"
		printf '%s %s %s %s\n' "$(cpu "$collector_pid")" "$(cpu "$ch_pid")" "$(faults "$collector_pid")" \
			"$(if [ -n "$lg" ]; then cpu "$lg"; else echo 0; fi)" >"$tmp/$1.posting"
		if [ -n "$profile_dir" ]; then
			curl -fsS -o "$profile_dir/$1.allocs-before.pprof" "http://$UMBRA_PPROF_ADDR/debug/pprof/allocs" || true
		fi
		touch "$tmp/$1.start") &
	local settle=$!
	if [ -n "$profile_dir" ]; then # profile the posting, after the enrolment
		(until grep -q posting "$tmp/$1.log"; do sleep 0.1; done
			curl -fsS -o "$profile_dir/$1.cpu.pprof" \
				"http://$UMBRA_PPROF_ADDR/debug/pprof/profile?seconds=${BENCH_PROFILE_SECONDS:-10}") &
		prof=$!
	fi
	/usr/bin/time -f '%U %S' -o "$tmp/$1.time" \
		"$bin/umbra-loadgen" --collector "$url" --ca-file "$cstate/ca.pem" --secret-file "$tmp/$1.secret" \
		--agents "$2" --reports-per-agent "$3" --packages "$4" --start-file "$tmp/$1.start" --json 2> >(tee "$tmp/$1.log" >&2) ||
		[ $? -eq 1 ] # 1: some failed, shown below
	kill "$settle" 2>/dev/null || true
	if [ -n "$profile_dir" ]; then
		curl -fsS -o "$profile_dir/$1.allocs.pprof" "http://$UMBRA_PPROF_ADDR/debug/pprof/allocs" || true
	fi
	local p0=(0 0 0 0)
	if [ -s "$tmp/$1.posting" ]; then read -r -a p0 <"$tmp/$1.posting"; fi
	printf '{"load": "%s", "posting": {"collector": %s, "clickhouse": %s, "collector_faults": %s, "loadgen": %s}, "collector": %s, "clickhouse": %s, "loadgen": %s}\n' \
		"$(cut -d' ' -f1-3 /proc/loadavg)" \
		"$(awk -v a="${p0[0]}" -v b="$(cpu "$collector_pid")" 'BEGIN { printf "%.2f", b - a }')" \
		"$(awk -v a="${p0[1]}" -v b="$(cpu "$ch_pid")" 'BEGIN { printf "%.2f", b - a }')" \
		"$(($(faults "$collector_pid") - ${p0[2]}))" \
		"$(tail -n 1 "$tmp/$1.time" | awk -v a="${p0[3]}" '{ printf "%.2f", $1 + $2 - a }')" \
		"$(awk -v a="$c0" -v b="$(cpu "$collector_pid")" 'BEGIN { printf "%.2f", b - a }')" \
		"$(awk -v a="$k0" -v b="$(cpu "$ch_pid")" 'BEGIN { printf "%.2f", b - a }')" \
		"$(tail -n 1 "$tmp/$1.time" | awk '{ printf "%.2f", $1 + $2 }')" >"$tmp/$1.cpu"
	if [ -n "$prof" ]; then wait "$prof" || true; fi
}
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
rows_in() { chq "SELECT count() FROM $1.host_software FINAL"; }

say "latency: $agents agents × 1 report × 200 packages, all at once"
loadgen bench-latency "$agents" 1 200 >"$tmp/latency.json"
# An accepted report may still be in the collector's journal: wait until
# ClickHouse has every row (or 5 minutes) before counting.
until_rows() { # rows: wait until host_software holds that many
	local deadline=$((SECONDS + 300))
	until [ "$(chq "SELECT count() FROM $db.host_software")" -ge "$1" ] || [ $SECONDS -ge $deadline ]; do
		sleep 0.05
	done
}
until_rows "$(field "$tmp/latency.json" software_rows)"
scrape "$tmp/bench-latency.metrics-after"
rows_before=$(rows_in "$db")

say "throughput: $tp_agents agents × $tp_reports reports × $tp_packages packages"
loadgen bench-throughput "$tp_agents" "$tp_reports" "$tp_packages" >"$tmp/throughput.json"
# An accepted report may still be in the collector's journal: the rows
# are counted as stored when ClickHouse has them all (or after 5 minutes).
until_rows $((rows_before + $(field "$tmp/throughput.json" software_rows)))
t_stored=$(date +%s.%N)
scrape "$tmp/bench-throughput.metrics-after"
rows_after=$(rows_in "$db")
stored=$((rows_after - rows_before))

say "raw: clickhouse-client INSERT … FORMAT TSV of the same number of rows"
"$bin/umbra-loadgen" --tsv "$tmp/rows.tsv" --agents "$tp_agents" --reports-per-agent "$tp_reports" --packages "$tp_packages"
"${chc[@]}" --query "CREATE DATABASE $rawdb"
"${chc[@]}" --query "CREATE TABLE $rawdb.host_software AS $db.host_software"
cols=$("${chc[@]}" --query "DESCRIBE TABLE $db.host_software" | cut -f1 | paste -sd, - | sed 's/,/, /g')
want_cols="agent_id, report_id, collected_at, op, source, key_id, arch, scope, name, package_id, version, publisher, install_date, size_bytes, location"
[ "$cols" = "$want_cols" ] || { echo "host_software columns changed: $cols" >&2; exit 1; }
"${chc[@]}" --query "SELECT 1" >/dev/null # the client's binary in the page cache before it is timed
t0=$(date +%s.%N)
"${chc[@]}" --query "INSERT INTO $rawdb.host_software ($want_cols) FORMAT TSV" <"$tmp/rows.tsv"
t1=$(date +%s.%N)
raw_rows=$(rows_in "$rawdb")

python3 - "$tmp/latency.json" "$tmp/throughput.json" "$stored" "$raw_rows" "$t0" "$t1" \
	"$tmp/bench-latency.cpu" "$tmp/bench-throughput.cpu" "$t_stored" "$tmp" <<'PY' | tee "$root/.umbra/bench/ingest.md" 2>/dev/null || true
import json, sys
from datetime import datetime
lat, tp = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
stored, raw_rows, t0, t1 = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
cpu = {"latency": json.load(open(sys.argv[7])), "throughput": json.load(open(sys.argv[8]))}
raw_s = t1 - t0
# From the first report sent to every row in ClickHouse (not to the last
# answer: an answer can come once the report is in the journal).
first = datetime.fromisoformat(tp["first_send"].replace("Z", "+00:00")).timestamp()
answered = tp["wall_seconds"]  # first report sent to last answer
tp["wall_seconds"] = float(sys.argv[9]) - first
e2e = stored / tp["wall_seconds"] if tp["wall_seconds"] > 0 else 0
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
print(f"| collector end to end (HTTPS, gzip JSON, {tp['agents']} agents; first report sent to every row in ClickHouse) | {stored} | {tp['wall_seconds']:.2f} | {e2e:,.0f} |")
print(f"| raw clickhouse-client INSERT … FORMAT TSV | {raw_rows} | {raw_s:.2f} | {raw:,.0f} |")
print(f"\nRatio {ratio:.0%} of raw (target ≥ 50% {ok(ratio >= 0.5)}); {e2e:,.0f} rows/s (target ≥ 50,000 {ok(e2e >= 50000)}); "
      f"report latency p99 {tp['latency_p99_seconds']:.3f} s, errors {errs(tp)}, failed {tp['failed']}; "
      f"the last report was answered {answered:.2f} s after the first was sent.")
print("\nCPU seconds each process used during a phase, enrolment included (they share this machine's cores with each other and anything else running):\n")
print("| phase | enrolment s | enrolment errors (retried or not) | reports wall s | CPU s: collector | ClickHouse | loadgen | machine load average after |")
print("|---|---|---|---|---|---|---|---|")
for name, s in (("latency", lat), ("throughput", tp)):
    c = cpu[name]
    enr = ", ".join(f"{k}×{v}" for k, v in sorted(s.get("enroll_statuses", {}).items())) or "none"
    print(f"| {name} | {s['enroll_seconds']:.2f} | {enr} | {s['wall_seconds']:.2f} | {c['collector']:.2f} | {c['clickhouse']:.2f} | {c['loadgen']:.2f} | {c['load']} |")
print("\nFrom the start of the posting until the last answer (and the end of the phase): CPU seconds, and the pages of memory the collector touched for the first time (minor faults):\n")
print("| phase | CPU s: collector | ClickHouse | loadgen | collector page faults |")
print("|---|---|---|---|---|")
for name in ("latency", "throughput"):
    p = cpu[name]["posting"]
    print(f"| {name} | {p['collector']:.2f} | {p['clickhouse']:.2f} | {p['loadgen']:.2f} | {p['collector_faults']:,} |")
def scraped(path):
    m = {}
    try:
        for line in open(path):
            if line.startswith("umbra_ingest_") and " " in line:
                k, v = line.rsplit(" ", 1)
                m[k] = float(v)
    except OSError:
        pass
    return m
print("\nWhat the collector's writers did from the start of the posting until ClickHouse had every row (its /metrics): "
      "inserts by table and the seconds they took, errors and refusals by kind:\n")
print("| phase | inserts (seconds) by table | errors | reports by outcome | answered from the journal |")
print("|---|---|---|---|---|")
for name in ("latency", "throughput"):
    a, b = scraped(f"{sys.argv[10]}/bench-{name}.metrics-before"), scraped(f"{sys.argv[10]}/bench-{name}.metrics-after")
    d = lambda k: b.get(k, 0) - a.get(k, 0)
    lab = lambda k: k.split('"')[1]
    tables = sorted({lab(k) for k in b if k.startswith("umbra_ingest_inserts_total{")})
    key = lambda metric, t: metric + '{table="' + t + '"}'
    ins = ", ".join(f"{t} {d(key('umbra_ingest_inserts_total', t)):.0f} ({d(key('umbra_ingest_insert_duration_seconds_sum', t)):.2f} s)"
                    for t in tables if d(key('umbra_ingest_inserts_total', t)))
    kinds = lambda pre: ", ".join(f"{lab(k)} {d(k):.0f}" for k in sorted(b) if k.startswith(pre) and d(k)) or "none"
    print(f"| {name} | {ins or 'none'} | {kinds('umbra_ingest_errors_total{')} | {kinds('umbra_ingest_reports_total{')} "
          f"| {d('umbra_ingest_journal_acks_total'):.0f} |")
for name, s in (("latency", lat), ("throughput", tp)):
    if s.get("first_error"):
        print(f"\n{name} run: {s['enrolled']}/{s['agents']} enrolled, {s['failed']} reports failed; first error: {s['first_error']}")
if stored != tp["software_rows"]:
    print(f"\n**Mismatch**: the collector accepted {tp['software_rows']} rows but host_software holds {stored}.")
PY

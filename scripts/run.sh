#!/usr/bin/env bash
# run.sh — bring Umbra up on this machine and show what it found.
#
#   scripts/run.sh          build, start ClickHouse and the collector, run an
#                           agent on this host, show `umbra hosts`; then keep
#                           reporting every UMBRA_RUN_INTERVAL seconds (30)
#                           until Ctrl-C, or for UMBRA_RUN_SECONDS if set.
#   scripts/run.sh stop     stop whatever a previous run left behind.
#
# Everything lives under .umbra/ in the repository: ClickHouse data in
# .umbra/clickhouse, the collector's log and address in .umbra/run, the
# agent's state in .umbra/agent. Ports are chosen free at start.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
state=$root/.umbra
run=$state/run
bin=$root/bin
mkdir -p "$run"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

stop_collector() {
	if [ -s "$run/collector.pid" ]; then
		local pid; pid=$(cat "$run/collector.pid")
		if kill -0 "$pid" 2>/dev/null; then
			kill -TERM "$pid" 2>/dev/null || true
			local deadline=$((SECONDS + 15))
			while kill -0 "$pid" 2>/dev/null; do
				[ $SECONDS -ge $deadline ] && { kill -KILL "$pid" 2>/dev/null || true; }
				sleep 0.1
			done
		fi
		rm -f "$run/collector.pid" "$run/collector.url"
	fi
}

stop_all() {
	stop_collector
	"$root/scripts/clickhouse.sh" stop "$state/clickhouse" 2>/dev/null || true
}

if [ "${1:-}" = stop ]; then
	stop_all
	say "stopped"
	exit 0
fi

# A previous run that was killed hard may have left its processes.
stop_collector

say "building"
make -s build

say "starting ClickHouse"
ch=$("$root/scripts/clickhouse.sh" start "$state/clickhouse")

cleanup() {
	trap - INT TERM EXIT
	echo
	say "stopping"
	stop_all
}
trap cleanup INT TERM EXIT

say "starting the collector (HTTPS, its own CA in .umbra/collector)"
cstate=$state/collector
mkdir -p "$cstate"
chmod 700 "$cstate"
rm -f "$run/collector.url"
collector_flags=(--state-dir "$cstate" --clickhouse "$ch" --database umbra)
"$bin/umbra-collector" "${collector_flags[@]}" --listen 127.0.0.1:0 --addr-file "$run/collector.url" \
	>>"$run/collector.log" 2>&1 &
echo $! >"$run/collector.pid"
deadline=$((SECONDS + 30))
until [ -s "$run/collector.url" ] && [ -s "$cstate/ca.pem" ] &&
	curl -fsS --cacert "$cstate/ca.pem" "$(cat "$run/collector.url")/readyz" >/dev/null 2>&1; do
	if ! kill -0 "$(cat "$run/collector.pid")" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
		echo "the collector did not come up; its log:" >&2
		tail -n 30 "$run/collector.log" >&2
		exit 1
	fi
	sleep 0.2
done
url=$(cat "$run/collector.url")
echo "collector at $url (CA $(cat "$cstate/ca.fingerprint"); log: $run/collector.log), ClickHouse at $ch"

# The first admin token comes from the collector host itself; the umbra CLI
# reads it from the config file it writes (never from a flag).
"$bin/umbra-collector" bootstrap-token "${collector_flags[@]}" --addr-file "$run/collector.url" >/dev/null
export UMBRA_CONFIG=$cstate/admin.json

enroll() {
	say "agent: enrol with a one-time secret, pinning the collector's CA"
	"$bin/umbra" enroll-secret create --name make-run --ttl 1h --max-uses 1 >"$run/enroll.secret"
	"$bin/umbra-agent" enroll --collector "$url" --ca-fingerprint "$(cat "$cstate/ca.fingerprint")" \
		--secret-file "$run/enroll.secret" --state-dir "$state/agent"
	rm -f "$run/enroll.secret"
}
[ -s "$state/agent/enrollment.json" ] || enroll

report() {
	# A collector whose database was wiped no longer knows this agent: it
	# answers "enrol again", and so we do, once.
	"$bin/umbra-agent" run --once --collector "$url" --state-dir "$state/agent" ||
		{ enroll && "$bin/umbra-agent" run --once --collector "$url" --state-dir "$state/agent"; }
	say "umbra hosts"
	"$bin/umbra" hosts
}

say "agent: inventory of this host"
report

interval=${UMBRA_RUN_INTERVAL:-30}
end=$(( ${UMBRA_RUN_SECONDS:-0} > 0 ? SECONDS + UMBRA_RUN_SECONDS : 0 ))
echo
echo "Umbra is running. Try: UMBRA_CONFIG=$cstate/admin.json bin/umbra hosts --json"
echo "                       UMBRA_CONFIG=$cstate/admin.json bin/umbra host AGENT_ID"
echo "The agent reports every ${interval}s. Ctrl-C (or make stop) stops everything."
while [ "$end" = 0 ] || [ $SECONDS -lt "$end" ]; do
	left=$interval
	[ "$end" != 0 ] && [ $((end - SECONDS)) -lt "$left" ] && left=$((end - SECONDS))
	[ "$left" -le 0 ] && break
	sleep "$left" &
	wait $! || true
	[ "$end" != 0 ] && [ $SECONDS -ge "$end" ] && break
	say "agent: report again"
	report
done

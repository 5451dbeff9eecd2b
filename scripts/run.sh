#!/usr/bin/env bash
# run.sh — bring Umbra up on this machine and show its main job.
#
#   scripts/run.sh          build; start ClickHouse and the collector (HTTPS,
#                           its own CA); enrol an agent; show `umbra hosts`.
#                           As root it also builds the simulated office network
#                           (scripts/testnet.sh), runs the agent inside its
#                           scanner namespace, registers part of the office in
#                           the asset register, scans the office through the
#                           collector and shows `umbra report shadow`: what is
#                           on the network that nobody registered.
#                           Then it keeps running until Ctrl-C, or for
#                           UMBRA_RUN_SECONDS if set.
#   scripts/run.sh stop     stop whatever a previous run left behind.
#
# Everything lives under .umbra/ in the repository: ClickHouse data in
# .umbra/clickhouse, the collector's CA and admin config in
# .umbra/collector, logs and addresses in .umbra/run, agents' state in
# .umbra/agent*. Ports are chosen free at start. Nothing is scanned but the
# namespaces this script creates; the scanning agent's namespace has no
# default route.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
state=$root/.umbra
run=$state/run
bin=$root/bin
mkdir -p "$run"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

stop_pid() { # pidfile
	[ -s "$1" ] || return 0
	local pid; pid=$(cat "$1")
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		local deadline=$((SECONDS + 15))
		while kill -0 "$pid" 2>/dev/null; do
			[ $SECONDS -ge $deadline ] && { kill -KILL "$pid" 2>/dev/null || true; }
			sleep 0.1
		done
	fi
	rm -f "$1"
}

stop_all() {
	stop_pid "$run/scanner-agent.pid"
	stop_pid "$run/collector.pid"
	rm -f "$run/collector.url"
	if [ -s "$run/testnet.name" ]; then
		"$root/scripts/testnet.sh" down "$(cat "$run/testnet.name")" >/dev/null 2>&1 || true
		rm -f "$run/testnet.name"
	fi
	"$root/scripts/clickhouse.sh" stop "$state/clickhouse" 2>/dev/null || true
}

if [ "${1:-}" = stop ]; then
	stop_all
	say "stopped"
	exit 0
fi

# A previous run that was killed hard may have left its processes.
stop_all 2>/dev/null || true

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

office=
listen=127.0.0.1
if [ "$(id -u)" = 0 ] && [ -z "${UMBRA_RUN_NO_OFFICE:-}" ]; then
	say "building the simulated office network (network namespaces)"
	"$root/scripts/testnet-deps.sh" >/dev/null
	office=run$$
	echo "$office" >"$run/testnet.name"
	UMBRA_TESTNET_OWNER=$$ "$root/scripts/testnet.sh" up "$office" --mgmt >"$run/testnet.json"
	read -r scanner_ns listen < <(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(d["scanner"], d["mgmt"]["host_addr"])' "$run/testnet.json")
	# The scanning agent may reach exactly two things: the office bridge and
	# the collector on the other end of a /30. Refuse to go on otherwise.
	if ip -n "$scanner_ns" route show default | grep -q . || ip -n "$scanner_ns" -6 route show default | grep -q .; then
		echo "the scanner namespace has a default route: refusing to scan" >&2
		exit 1
	fi
	echo "office network $office: scanner namespace $scanner_ns, collector reachable from it at $listen"
fi

say "starting the collector (HTTPS, its own CA in .umbra/collector)"
cstate=$state/collector
mkdir -p "$cstate"
chmod 700 "$cstate"
collector_flags=(--state-dir "$cstate" --clickhouse "$ch" --database umbra --listen "$listen:0" --tls-names "$listen")
serve_flags=()
[ -n "$office" ] && serve_flags=(--scan-allow 198.18.1.0/24,198.18.2.0/24 --scan-max-addrs 512)
"$bin/umbra-collector" "${collector_flags[@]}" "${serve_flags[@]}" --addr-file "$run/collector.url" \
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

# enroll STATE_DIR [COMMAND PREFIX…]: a one-time secret, the CA pinned.
enroll() {
	local dir=$1; shift
	"$bin/umbra" enroll-secret create --name make-run --ttl 1h --max-uses 1 >"$run/enroll.secret"
	"$@" "$bin/umbra-agent" enroll --collector "$url" --ca-fingerprint "$(cat "$cstate/ca.fingerprint")" \
		--secret-file "$run/enroll.secret" --state-dir "$dir"
	rm -f "$run/enroll.secret"
}

if [ -z "$office" ]; then
	agent_state=$state/agent
	say "agent: enrol with a one-time secret, pinning the collector's CA"
	[ -s "$agent_state/enrollment.json" ] || enroll "$agent_state"
	report() {
		# A collector whose database was wiped no longer knows this agent: it
		# answers "enrol again", and so we do, once.
		"$bin/umbra-agent" run --once --collector "$url" --state-dir "$agent_state" ||
			{ enroll "$agent_state" && "$bin/umbra-agent" run --once --collector "$url" --state-dir "$agent_state"; }
	}
	say "agent: inventory of this host"
	report
	say "umbra hosts"
	"$bin/umbra" hosts
	[ "$(id -u)" = 0 ] || echo "(run as root to also see discovery on the simulated office network)"
else
	agent_state=$state/agent-office
	rm -rf "$agent_state"
	mkdir -p "$agent_state"
	chmod 700 "$agent_state"
	cat >"$agent_state/agent.yaml" <<YAML
collector: $url
state_dir: $agent_state
start_delay: 1s
YAML
	say "agent: enrol and run as the long-lived agent inside the office's scanner namespace"
	enroll "$agent_state" ip netns exec "$scanner_ns"
	ip netns exec "$scanner_ns" "$bin/umbra-agent" run --config "$agent_state/agent.yaml" \
		>>"$run/scanner-agent.log" 2>&1 &
	echo $! >"$run/scanner-agent.pid"
	agent_id=$(cat "$agent_state/agent-id")
	deadline=$((SECONDS + 90))
	until "$bin/umbra" hosts --json | grep -q "\"$agent_id\""; do
		if [ $SECONDS -ge $deadline ]; then
			echo "the agent's inventory did not arrive; its log:" >&2
			tail -n 30 "$run/scanner-agent.log" >&2
			exit 1
		fi
		sleep 1
	done
	say "umbra hosts"
	"$bin/umbra" hosts

	say "the asset register: the router, the switch, the printer and the file server are registered"
	python3 - "$run/testnet.json" >"$run/register.csv" <<'PY'
import csv, json, sys
d = json.load(open(sys.argv[1]))
w = csv.writer(sys.stdout)
w.writerow(["tag", "name", "category", "serial", "macs", "hostname", "owner", "location", "lifecycle"])
for i, h in enumerate(d["hosts"]):
    if h.get("name") in ("router", "switch", "printer", "server") and h.get("mac"):
        category = {"router": "network-infrastructure", "switch": "network-infrastructure",
                    "printer": "peripheral"}.get(h["name"], "end-user-device")
        w.writerow([f"IT-{1000 + i}", h["name"], category, "", h["mac"], h["name"], "it-ops", "HQ floor 2", "deployed"])
PY
	"$bin/umbra" asset import "$run/register.csv" || echo "(the register import failed; the report below flags every device)"
	"$bin/umbra" asset list || true

	say "umbra scan create 198.18.1.0/24 --wait (routed to the agent on that segment)"
	UMBRA_SNMP_COMMUNITY=umbra-ro "$bin/umbra" credential add office-ro --version 2c >/dev/null
	UMBRA_SNMP_COMMUNITY=public "$bin/umbra" credential add printers >/dev/null
	"$bin/umbra" network trust add --subnet 198.18.1.0/24 --note "simulated office" >/dev/null # agents scan only on trusted networks
	"$bin/umbra" scan create 198.18.1.0/24 --credentials office-ro,printers --wait --timeout 3m

	# --wait has waited for the results to reach the collector and has
	# reconciled them: the report is current.
	echo "$("$bin/umbra" devices | tail -n +2 | wc -l) observed addresses and MACs: bin/umbra devices lists them"
	say "umbra report shadow: on the network, in no register"
	"$bin/umbra" report shadow || true
fi

end=$(( ${UMBRA_RUN_SECONDS:-0} > 0 ? SECONDS + UMBRA_RUN_SECONDS : 0 ))
echo
echo "Umbra is running. In another terminal:"
echo "  export UMBRA_CONFIG=$cstate/admin.json"
echo "  bin/umbra hosts | bin/umbra host AGENT_ID | bin/umbra software | bin/umbra devices | bin/umbra audit"
echo "Ctrl-C (or make stop) stops everything."
while [ "$end" = 0 ] || [ $SECONDS -lt "$end" ]; do
	sleep 1 &
	wait $! || true
done

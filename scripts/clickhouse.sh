#!/usr/bin/env bash
# clickhouse.sh — a private ClickHouse server for Umbra's development, tests and demo.
#
#   scripts/clickhouse.sh start [DIR]   start (or reuse) a server whose data lives in DIR
#   scripts/clickhouse.sh stop  [DIR]   stop it and wait until it has gone
#   scripts/clickhouse.sh status [DIR]  exit 0 if it answers
#   scripts/clickhouse.sh env   [DIR]   print UMBRA_CLICKHOUSE=host:port for eval
#
# DIR defaults to $UMBRA_CLICKHOUSE_DIR or .umbra/clickhouse in the repository.
# The server listens on 127.0.0.1 only, on a free TCP port chosen on first start
# and remembered in DIR/port, so two copies never clash. It uses the
# clickhouse-server on PATH; on Debian/Ubuntu as root it installs the
# distribution's package when missing. UMBRA_CH_LOG_LEVEL sets its log
# level (warning; information also shows the inserts it delays because a
# table has too many parts), in DIR/log/server.log.
set -euo pipefail

cmd=${1:-start}
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${2:-${UMBRA_CLICKHOUSE_DIR:-$root/.umbra/clickhouse}}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

log() { echo "clickhouse.sh: $*" >&2; }

find_server() {
	for c in clickhouse-server /usr/sbin/clickhouse-server /usr/bin/clickhouse-server; do
		if command -v "$c" >/dev/null 2>&1; then command -v "$c"; return 0; fi
	done
	if command -v clickhouse >/dev/null 2>&1; then echo "$(command -v clickhouse) server"; return 0; fi
	return 1
}

find_client() {
	if command -v clickhouse-client >/dev/null 2>&1; then echo clickhouse-client; return 0; fi
	if command -v clickhouse >/dev/null 2>&1; then echo "clickhouse client"; return 0; fi
	return 1
}

install_server() {
	if [ -r /etc/debian_version ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		log "installing Debian's clickhouse-server and clickhouse-client packages"
		export DEBIAN_FRONTEND=noninteractive
		if ! apt-get install -y --no-install-recommends clickhouse-server clickhouse-client >/dev/null 2>&1; then
			apt-get update >/dev/null
			apt-get install -y --no-install-recommends clickhouse-server clickhouse-client >/dev/null
		fi
		return 0
	fi
	cat >&2 <<MSG
clickhouse.sh: no ClickHouse server found on PATH.
Install one, then run this again:
  Debian/Ubuntu:  sudo apt-get install clickhouse-server clickhouse-client
  other Linux:    the official packages from clickhouse.com (any version 18.16 or newer)
  macOS:          brew install clickhouse
MSG
	exit 1
}

port_in_use() { ss -Htln "sport = :$1" 2>/dev/null | grep -q . ; }

# ephemeral_low is where the system's ephemeral ports (the local ports of
# outgoing connections) begin. A server's ports stay below it: a test that
# stops ClickHouse and starts it again on the same port could otherwise
# find the port taken by one of its own outgoing connections meanwhile
# (TestOutage failed so: "Address already in use" for a whole minute).
ephemeral_low() {
	local lo
	lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null) ||
		lo=$(sysctl -n net.inet.ip.portrange.first 2>/dev/null) || lo=32768
	case $lo in '' | *[!0-9]*) lo=32768 ;; esac
	echo "$lo"
}

pick_port() {
	# A start point derived from the directory keeps restarts stable; step
	# over ports that are taken (we need the port and port+1 for HTTP),
	# within 10000 and the ephemeral ports.
	local lo span p
	lo=$(ephemeral_low)
	span=$((lo - 10000 - 2))
	if [ "$span" -lt 1000 ]; then span=20000; fi
	p=$((10000 + $(printf '%s' "$dir" | cksum | cut -d' ' -f1) % span))
	while port_in_use "$p" || port_in_use "$((p + 1))"; do
		p=$((p + 2))
		if [ "$p" -ge $((10000 + span)) ]; then p=10000; fi
	done
	echo "$p"
}

write_config() {
	local port=$1 http=$(( $1 + 1 ))
	mkdir -p "$dir/data" "$dir/tmp" "$dir/user_files" "$dir/log" "$dir/format_schemas"
	cat >"$dir/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
    <logger>
        <level>${UMBRA_CH_LOG_LEVEL:-warning}</level>
        <log>$dir/log/server.log</log>
        <errorlog>$dir/log/server.err.log</errorlog>
        <size>10M</size>
        <count>2</count>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <tcp_port>$port</tcp_port>
    <http_port>$http</http_port>
    <max_connections>1024</max_connections>
    <keep_alive_timeout>3</keep_alive_timeout>
    <max_concurrent_queries>100</max_concurrent_queries>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <mark_cache_size>268435456</mark_cache_size>
    <path>$dir/data/</path>
    <tmp_path>$dir/tmp/</tmp_path>
    <user_files_path>$dir/user_files/</user_files_path>
    <format_schema_path>$dir/format_schemas/</format_schema_path>
    <users_config>$dir/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
    <builtin_dictionaries_reload_interval>3600</builtin_dictionaries_reload_interval>
    <max_session_timeout>3600</max_session_timeout>
    <default_session_timeout>60</default_session_timeout>
</yandex>
XML
	cat >"$dir/users.xml" <<XML
<?xml version="1.0"?>
<yandex>
    <profiles>
        <default>
            <max_memory_usage>4000000000</max_memory_usage>
            <load_balancing>random</load_balancing>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval>
        </default>
    </quotas>
</yandex>
XML
}

answers() {
	local port=$1 client
	client=$(find_client) || return 1
	# shellcheck disable=SC2086
	$client --host 127.0.0.1 --port "$port" --query 'SELECT 1' >/dev/null 2>&1
}

pid_alive() { [ -s "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; }

start() {
	local server port
	if ! server=$(find_server); then install_server; server=$(find_server); fi
	if pid_alive && [ -s "$dir/port" ] && answers "$(cat "$dir/port")"; then
		log "already running on 127.0.0.1:$(cat "$dir/port") (pid $(cat "$dir/pid"))"
		echo "127.0.0.1:$(cat "$dir/port")"
		return 0
	fi
	if [ -s "$dir/port" ] && ! port_in_use "$(cat "$dir/port")" && ! port_in_use "$(( $(cat "$dir/port") + 1 ))"; then
		port=$(cat "$dir/port")
	else
		port=$(pick_port)
	fi
	echo "$port" >"$dir/port"
	write_config "$port"
	rm -f "$dir/pid"
	# The server runs detached from the caller's terminal and session (setsid
	# execs in place, so $! is the server's pid), which tells stop what to end.
	# shellcheck disable=SC2086
	(cd "$dir" && exec setsid $server --config-file="$dir/config.xml" \
		</dev/null >>"$dir/log/stdout.log" 2>&1) &
	echo $! >"$dir/pid"
	local deadline=$((SECONDS + 60))
	until answers "$port"; do
		if ! pid_alive || [ $SECONDS -ge $deadline ]; then
			log "server did not come up on 127.0.0.1:$port; last log lines:"
			tail -n 20 "$dir/log/server.err.log" "$dir/log/stdout.log" >&2 2>/dev/null || true
			exit 1
		fi
		sleep 0.2
	done
	log "running on 127.0.0.1:$port (data in $dir)"
	echo "127.0.0.1:$port"
}

stop() {
	if ! [ -s "$dir/pid" ]; then log "not running"; return 0; fi
	local pid; pid=$(cat "$dir/pid")
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		local deadline=$((SECONDS + 30))
		while kill -0 "$pid" 2>/dev/null; do
			if [ $SECONDS -ge $deadline ]; then log "pid $pid ignored SIGTERM for 30s; killing"; kill -KILL "$pid" 2>/dev/null || true; fi
			sleep 0.1
		done
	fi
	rm -f "$dir/pid"
	log "stopped"
}

case "$cmd" in
start) start ;;
stop) stop ;;
status) [ -s "$dir/port" ] && pid_alive && answers "$(cat "$dir/port")" ;;
env) [ -s "$dir/port" ] || { log "not started"; exit 1; }; echo "UMBRA_CLICKHOUSE=127.0.0.1:$(cat "$dir/port")" ;;
*) echo "usage: $0 start|stop|status|env [DIR]" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# testnet.sh — the simulated office network (DESIGN.md §7), built from Linux
# network namespaces. Nothing of it touches the root namespace: the bridges
# live in their own "switch" namespace, every veth is created directly inside
# namespaces, and the scanner namespace has one interface on the bridge and no
# default route. Names carry a random suffix, so two runs never collide.
#
# The one exception is --mgmt: a "management" veth from the scanner namespace
# to the root namespace, a /30 of 198.18.255.0/24 (random, unused), so that
# an agent scanning inside reaches a collector listening on the root end's
# address — and nothing else: the scanner still has no default route, only
# the connected /30, and the root end does not forward what it receives.
#
#   scripts/testnet.sh up NAME [--extra N] [--mgmt]   build it; prints the description file
#   scripts/testnet.sh down NAME             tear it down (safe to repeat)
#   scripts/testnet.sh exec NAME HOST CMD…   run CMD inside HOST's namespace
#   scripts/testnet.sh desc NAME             print the description file
#   scripts/testnet.sh gc                    tear down networks whose owner died
#
# The description file (JSON) lists every host with its namespace, addresses,
# MACs, role, SNMP credentials and mDNS services, so tests know the expected
# answers. --extra N adds N plain hosts (198.18.1.100…) for benchmarks;
# UMBRA_TESTNET_SWITCH_PORTS (24) sets the switch's veth pairs (its ifTable
# has twice as many rows, plus two).
# Needs root, iproute2 and snmpd (scripts/testnet-deps.sh installs them).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
statebase=${UMBRA_TESTNET_DIR:-/run/umbra-testnet}

die() { echo "testnet: $*" >&2; exit 1; }

usage() {
	sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

checkname() {
	[[ $1 =~ ^[a-z0-9][a-z0-9-]{0,23}$ ]] || die "bad network name '$1': use [a-z0-9-], at most 24 characters"
}

# ---- teardown -------------------------------------------------------------

down() {
	local name=$1 dir=$statebase/$1
	[ -d "$dir" ] || return 0
	local ns
	if [ -f "$dir/netns" ]; then
		# Stop every process in our namespaces (they are all ours), then
		# delete the namespaces; their veths and bridges go with them.
		while read -r ns; do
			[ -n "$ns" ] || continue
			local pids
			pids=$(ip netns pids "$ns" 2>/dev/null || true)
			[ -n "$pids" ] && kill $pids 2>/dev/null || true
		done <"$dir/netns"
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			local left=""
			while read -r ns; do
				[ -n "$ns" ] || continue
				left+=$(ip netns pids "$ns" 2>/dev/null || true)
			done <"$dir/netns"
			[ -z "$left" ] && break
			sleep 0.1
		done
		while read -r ns; do
			[ -n "$ns" ] || continue
			local pids
			pids=$(ip netns pids "$ns" 2>/dev/null || true)
			[ -n "$pids" ] && kill -9 $pids 2>/dev/null || true
			ip netns del "$ns" 2>/dev/null || true
		done <"$dir/netns"
	fi
	# The management link's root end goes with the scanner namespace;
	# delete it in case that namespace was already gone.
	if [ -f "$dir/rootlinks" ]; then
		local l
		while read -r l; do
			[ -n "$l" ] && ip link del "$l" 2>/dev/null || true
		done <"$dir/rootlinks"
	fi
	rm -rf "$dir"
}

gc() {
	local dir
	for dir in "$statebase"/*/; do
		[ -d "$dir" ] || continue
		local owner
		owner=$(cat "$dir/owner" 2>/dev/null || echo 0)
		if [ "$owner" = 0 ] || ! kill -0 "$owner" 2>/dev/null; then
			echo "testnet: removing $(basename "$dir") (owner $owner is gone)" >&2
			down "$(basename "$dir")"
		fi
	done
}

# ---- building blocks ------------------------------------------------------

ID=""      # NAME-xxxxxx, unique per run
DIR=""     # state directory
SW=""      # the switch namespace
HOSTS_JSON=()

nsname() { echo "u-$ID-$1"; }

mkns() {
	local ns
	ns=$(nsname "$1")
	ip netns add "$ns"
	echo "$ns" >>"$DIR/netns"
	ip -n "$ns" link set lo up
	# Hosts keep to themselves: no IPv6 autoconfiguration chatter.
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
}

# attach HOST IFNAME BRIDGE ADDR/LEN MAC: a veth from HOST's namespace to a
# bridge port in the switch namespace. Both ends are created inside
# namespaces; the root namespace never sees them.
PORTN=0
attach() {
	local host=$1 ifname=$2 br=$3 addr=$4 mac=$5 ns
	ns=$(nsname "$host")
	PORTN=$((PORTN + 1))
	local port="p$PORTN"
	ip -n "$SW" link add "$port" type veth peer name "$ifname" netns "$ns"
	ip -n "$SW" link set "$port" master "$br" up
	ip -n "$ns" link set "$ifname" address "$mac"
	ip -n "$ns" addr add "$addr" dev "$ifname"
	ip -n "$ns" link set "$ifname" up
	# mDNS is link-local multicast: a link route, not a default one.
	ip -n "$ns" route add 224.0.0.0/4 dev "$ifname" 2>/dev/null || true
}

# snmpd HOST ADDR CONFIG-LINES: the real Debian snmpd with its own config,
# state and pid file, listening only on ADDR inside HOST's namespace.
snmpd_start() {
	local host=$1 addr=$2 conf=$3 ns
	ns=$(nsname "$host")
	mkdir -p "$DIR/$host/snmp"
	printf '%s\n' "$conf" >"$DIR/$host/snmpd.conf"
	ip netns exec "$ns" env SNMP_PERSISTENT_DIR="$DIR/$host/snmp" MIBS= \
		/usr/sbin/snmpd -C -c "$DIR/$host/snmpd.conf" -p "$DIR/$host/snmpd.pid" \
		-Lf "$DIR/$host/snmpd.log" -I -smux "udp:$addr:161"
}

testhost() {
	local host=$1
	shift
	ip netns exec "$(nsname "$host")" "$DIR/testhost" "$@" >"$DIR/$host.log" 2>&1 &
	echo $! >>"$DIR/pids"
}

# json helpers: values are ours, never user input, but quote them anyway.
jstr() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }

# host HOST ROLE IP MAC [key=json-value …]: one entry of the description.
describe() {
	local host=$1 role=$2 ip=$3 mac=$4
	shift 4
	local extra="" kv key
	for kv in "$@"; do
		key=${kv%%=*}
		key=${key//\"/}
		extra+=", $(jstr "$key"): ${kv#*=}"
	done
	HOSTS_JSON+=("    {\"name\": $(jstr "$host"), \"netns\": $(jstr "$(nsname "$host")"), \"role\": $(jstr "$role"), \"ip\": $(jstr "$ip"), \"mac\": $(jstr "$mac")$extra}")
}

wait_udp() { # wait until snmpd answers on HOST's ADDR
	local host=$1 addr=$2 args=$3 i
	for i in $(seq 1 50); do
		if ip netns exec "$(nsname scanner)" snmpget $args -t 0.2 -r 0 "$addr" 1.3.6.1.2.1.1.3.0 >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	die "snmpd on $host ($addr) did not come up; see $DIR/$host/snmpd.log"
}

# ---- the network ----------------------------------------------------------

# mgmt_link: the management /30 between the scanner and the root namespace.
MGMT_JSON=""
mgmt_link() {
	local sc k base host scan rootif
	sc=$(nsname scanner)
	rootif="umg${ID##*-}"
	for _ in $(seq 1 64); do
		k=$((RANDOM % 64))
		base=$((k * 4))
		host=198.18.255.$((base + 1)) scan=198.18.255.$((base + 2))
		ip -o -4 addr show | grep -qE " 198\.18\.255\.($((base + 1))|$((base + 2)))/" || break
		host=""
	done
	[ -n "$host" ] || die "no free /30 in 198.18.255.0/24 for the management link"
	echo "$rootif" >>"$DIR/rootlinks"
	ip link add "$rootif" type veth peer name mgmt0 netns "$sc"
	sysctl -qw "net.ipv6.conf.$rootif.disable_ipv6=1" "net.ipv4.conf.$rootif.forwarding=0"
	ip addr add "$host/30" dev "$rootif"
	ip link set "$rootif" up
	ip -n "$sc" addr add "$scan/30" dev mgmt0
	ip -n "$sc" link set mgmt0 up
	MGMT_JSON="  \"mgmt\": {\"prefix\": \"198.18.255.$base/30\", \"host_addr\": \"$host\", \"scanner_addr\": \"$scan\", \"host_if\": \"$rootif\", \"scanner_if\": \"mgmt0\"},"
}

up() {
	local name=$1 extra=$2 mgmt=${3:-0}
	[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
	command -v snmpd >/dev/null || [ -x /usr/sbin/snmpd ] || die "snmpd is missing: run scripts/testnet-deps.sh"
	command -v snmpget >/dev/null || die "snmpget is missing: run scripts/testnet-deps.sh"
	[ "$extra" -le 99 ] || die "--extra is at most 99"
	down "$name" # up twice gives a fresh network
	mkdir -p "$statebase"
	DIR=$statebase/$name
	mkdir -p "$DIR"
	ID="$name-$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')"
	echo "$ID" >"$DIR/id"
	echo "${UMBRA_TESTNET_OWNER:-$PPID}" >"$DIR/owner"
	: >"$DIR/netns"
	: >"$DIR/pids"
	trap 'echo "testnet: building $name failed; tearing it down" >&2; down "$name"' ERR
	trap 'down "$name"; exit 130' INT TERM

	(cd "$root/scripts/testnet/testhost" && GOWORK=off go build -o "$DIR/testhost" .) ||
		die "building scripts/testnet/testhost failed"

	local A=198.18.1 B=198.18.2
	SW=$(nsname sw)
	mkns sw
	local br
	for br in br0 br1; do
		ip -n "$SW" link add "$br" type bridge
		# Flood multicast (mDNS) to every port; forward at once.
		ip -n "$SW" link set "$br" type bridge mcast_snooping 0 stp_state 0 forward_delay 0
		ip -n "$SW" link set "$br" up
	done

	# The scanner: one interface on subnet A, no default route; subnet B is
	# reached through the router by a route for that subnet only.
	mkns scanner
	attach scanner eth0 br0 $A.250/24 02:00:5e:10:00:fa
	ip -n "$(nsname scanner)" route add $B.0/24 via $A.1
	describe scanner scanner $A.250 02:00:5e:10:00:fa '"subnet"="198.18.1.0/24"'
	[ "$mgmt" = 1 ] && mgmt_link

	# Router between A and B; its ipNetToMediaTable is its real ARP cache.
	mkns router
	attach router eth0 br0 $A.1/24 00:00:0c:9f:f0:01
	attach router eth1 br1 $B.1/24 00:00:0c:9f:f0:02
	ip netns exec "$(nsname router)" sysctl -qw net.ipv4.ip_forward=1
	snmpd_start router $A.1 "sysDescr Cisco IOS Software, C2900 Software (C2900-UNIVERSALK9-M), Version 15.7(3)M4, RELEASE SOFTWARE (fc1)
sysObjectID .1.3.6.1.4.1.9.1.1047
sysName rtr-office-1
sysLocation Office, rack 1
sysContact netops@example.com
sysServices 78
rocommunity umbra-ro default"
	describe router router $A.1 00:00:0c:9f:f0:01 '"ips"=["198.18.1.1","198.18.2.1"]' '"macs"=["00:00:0c:9f:f0:01","00:00:0c:9f:f0:02"]' \
		'"kind"="router"' '"snmp"={"version":"2c","community":"umbra-ro"}' '"sys_object_id"="1.3.6.1.4.1.9.1.1047"' '"sys_name"="rtr-office-1"'

	# A switch with many interfaces.
	mkns switch
	attach switch eth0 br0 $A.2/24 00:1b:d4:22:00:02
	local i ports=${UMBRA_TESTNET_SWITCH_PORTS:-24}
	[[ $ports =~ ^[0-9]+$ ]] && [ "$ports" -ge 24 ] && [ "$ports" -le 600 ] ||
		die "UMBRA_TESTNET_SWITCH_PORTS is 24 to 600, not '$ports'"
	for i in $(seq 1 "$ports"); do
		# No dummy driver everywhere: a veth pair per "port", both ends here.
		ip -n "$(nsname switch)" link add "gi0-$i" type veth peer name "gi0-$i-peer"
		ip -n "$(nsname switch)" link set "gi0-$i" address "00:1b:d4:22:$(printf %02x:%02x $((i / 256 + 1)) $((i % 256)))" up
	done
	# Linux snmpd has no BRIDGE-MIB, LLDP-MIB or ENTITY-MIB: the switch's
	# forwarding table (which port each office MAC sits on, VLAN 1 in
	# BRIDGE-MIB, VLAN 20 in Q-BRIDGE-MIB), its chassis and its LLDP
	# neighbour (the router) are served as static rows.
	local fdb="" mac port oct
	for i in $(seq 1 24); do
		fdb+="override .1.3.6.1.2.1.17.1.4.1.2.$i integer $(ip -n "$(nsname switch)" -o link show "gi0-$i" | cut -d: -f1)"$'\n'
	done
	for mac in 00:00:0c:9f:f0:01/1 3c:d9:2b:10:00:0a/3 00:14:22:10:00:0b/4 00:25:90:10:00:15/6 \
		00:1b:21:10:00:17/8 44:19:b6:10:00:18/9 02:00:5e:10:00:fa/24 f4:f5:d8:10:00:14/5@20 3a:7c:11:10:00:16/7@20; do
		port=${mac#*/} mac=${mac%%/*}
		oct=$(printf '%d.' $(echo "$mac" | sed 's/^/0x/; s/:/ 0x/g')) oct=${oct%.}
		case $port in
		*@*) fdb+="override .1.3.6.1.2.1.17.7.1.2.2.1.2.${port#*@}.$oct integer ${port%@*}"$'\n'
			fdb+="override .1.3.6.1.2.1.17.7.1.2.2.1.3.${port#*@}.$oct integer 3"$'\n' ;;
		*) fdb+="override .1.3.6.1.2.1.17.4.3.1.2.$oct integer $port"$'\n'
			fdb+="override .1.3.6.1.2.1.17.4.3.1.3.$oct integer 3"$'\n' ;;
		esac
	done
	snmpd_start switch $A.2 "sysDescr Cisco IOS Software, C2960X Software (C2960X-UNIVERSALK9-M), Version 15.2(7)E3, RELEASE SOFTWARE (fc3)
sysObjectID .1.3.6.1.4.1.9.1.1208
sysName sw-office-1
sysServices 2
rocommunity umbra-ro default
${fdb}override .1.3.6.1.2.1.17.7.1.4.2.1.3.0.20 uinteger 20
override .1.3.6.1.2.1.47.1.1.1.1.2.1 octet_str \"Cisco Catalyst 2960X-48TS-L Switch\"
override .1.3.6.1.2.1.47.1.1.1.1.5.1 integer 3
override .1.3.6.1.2.1.47.1.1.1.1.11.1 octet_str \"FOC2041X0QH\"
override .1.3.6.1.2.1.47.1.1.1.1.12.1 octet_str \"Cisco Systems, Inc.\"
override .1.3.6.1.2.1.47.1.1.1.1.13.1 octet_str \"WS-C2960X-48TS-L\"
override .1.0.8802.1.1.2.1.3.7.1.3.1 octet_str \"Gi1/0/1\"
override .1.0.8802.1.1.2.1.4.1.1.4.0.1.1 integer 4
override .1.0.8802.1.1.2.1.4.1.1.5.0.1.1 octet_str 0x00000c9ff001
override .1.0.8802.1.1.2.1.4.1.1.6.0.1.1 integer 5
override .1.0.8802.1.1.2.1.4.1.1.7.0.1.1 octet_str \"Gi0/0\"
override .1.0.8802.1.1.2.1.4.1.1.9.0.1.1 octet_str \"rtr-office-1\"
override .1.0.8802.1.1.2.1.4.1.1.12.0.1.1 octet_str 0x2800
override .1.0.8802.1.1.2.1.4.2.1.3.0.1.1.1.4.198.18.1.1 integer 2"
	describe switch switch $A.2 00:1b:d4:22:00:02 '"kind"="switch"' '"snmp"={"version":"2c","community":"umbra-ro"}' \
		'"sys_object_id"="1.3.6.1.4.1.9.1.1208"' '"sys_name"="sw-office-1"' '"interfaces"='"$((2 * ports + 2))" \
		'"fdb"={"00:00:0c:9f:f0:01":"1","3c:d9:2b:10:00:0a":"3","00:14:22:10:00:0b":"4","00:25:90:10:00:15":"6","00:1b:21:10:00:17":"8","44:19:b6:10:00:18":"9","02:00:5e:10:00:fa":"24","f4:f5:d8:10:00:14":"5@20","3a:7c:11:10:00:16":"7@20"}'

	# A network printer: SNMP (community public), JetDirect, IPP, mDNS.
	mkns printer
	attach printer eth0 br0 $A.10/24 3c:d9:2b:10:00:0a
	snmpd_start printer $A.10 "sysDescr HP ETHERNET MULTI-ENVIRONMENT,ROM none,JETDIRECT,JD153,EEPROM JSI24090012
sysObjectID .1.3.6.1.4.1.11.2.3.9.1
sysName NPI0A000A
sysServices 72
rocommunity public default"
	testhost printer -tcp 80,631,9100 -hostname NPI0A000A \
		-mdns '_ipp._tcp|HP LaserJet M404 (office)|631|ty=HP LaserJet Pro M404dn,rp=ipp/print,note=2nd floor' \
		-mdns '_pdl-datastream._tcp|HP LaserJet M404 (office)|9100|ty=HP LaserJet Pro M404dn'
	describe printer printer $A.10 3c:d9:2b:10:00:0a '"kind"="printer"' '"snmp"={"version":"2c","community":"public"}' \
		'"sys_object_id"="1.3.6.1.4.1.11.2.3.9.1"' '"tcp"=[80,631,9100]' '"mdns"=["_ipp._tcp","_pdl-datastream._tcp"]'

	# A server that speaks only SNMPv3 (authPriv, SHA/AES) and SSH.
	mkns server
	attach server eth0 br0 $A.11/24 00:14:22:10:00:0b
	snmpd_start server $A.11 "sysDescr Linux srv-files-1 6.1.0-28-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1 x86_64
sysObjectID .1.3.6.1.4.1.8072.3.2.10
sysName srv-files-1
createUser umbrav3 SHA umbra-auth-pass AES umbra-priv-pass
rouser umbrav3 priv"
	testhost server -tcp 22
	describe server server $A.11 00:14:22:10:00:0b '"kind"="server"' \
		'"snmp"={"version":"3","user":"umbrav3","auth":"SHA","auth_pass":"umbra-auth-pass","priv":"AES","priv_pass":"umbra-priv-pass"}' \
		'"sys_object_id"="1.3.6.1.4.1.8072.3.2.10"' '"tcp"=[22]'

	# A media device announcing itself over mDNS.
	mkns media
	attach media eth0 br0 $A.20/24 f4:f5:d8:10:00:14
	testhost media -tcp 8008,8009 -hostname Living-Room-TV \
		-mdns '_googlecast._tcp|Living Room TV|8009|md=Chromecast,fn=Living Room TV,id=5f2c' \
		-mdns '_airplay._tcp|Living Room TV|7000|model=AppleTV6,2'
	describe media media $A.20 f4:f5:d8:10:00:14 '"kind"="media"' '"tcp"=[8008,8009]' '"mdns"=["_googlecast._tcp","_airplay._tcp"]'

	# A web server with no SNMP.
	mkns web
	attach web eth0 br0 $A.21/24 00:25:90:10:00:15
	testhost web -tcp 80,443 -banner 'HTTP/1.0 200 OK'
	describe web server $A.21 00:25:90:10:00:15 '"tcp"=[80,443]'

	# A laptop with a randomised (locally administered) MAC: answers ping only.
	mkns laptop
	attach laptop eth0 br0 $A.22/24 3a:7c:11:10:00:16
	describe laptop workstation $A.22 3a:7c:11:10:00:16 '"mac_local"=true'

	# A host that ignores ping and has one TCP port open.
	mkns noping
	attach noping eth0 br0 $A.23/24 00:1b:21:10:00:17
	ip netns exec "$(nsname noping)" sysctl -qw net.ipv4.icmp_echo_ignore_all=1
	testhost noping -tcp 3389
	describe noping workstation $A.23 00:1b:21:10:00:17 '"icmp"=false' '"tcp"=[3389]'

	# A camera: RTSP and HTTP.
	mkns camera
	attach camera eth0 br0 $A.24/24 44:19:b6:10:00:18
	testhost camera -tcp 80,554
	describe camera camera $A.24 44:19:b6:10:00:18 '"kind"="camera"' '"tcp"=[80,554]'

	# Subnet B, behind the router: found through the router's ARP table.
	mkns bsrv
	attach bsrv eth0 br1 $B.10/24 00:50:56:20:00:0a
	ip -n "$(nsname bsrv)" route add $A.0/24 via $B.1
	snmpd_start bsrv $B.10 "sysDescr Linux b-srv 6.1.0-28-amd64 #1 SMP Debian x86_64
sysObjectID .1.3.6.1.4.1.8072.3.2.10
sysName b-srv
rocommunity public default"
	describe bsrv server $B.10 00:50:56:20:00:0a '"snmp"={"version":"2c","community":"public"}' '"subnet"="198.18.2.0/24"'
	for i in 20 21; do
		mkns "bpc$i"
		attach "bpc$i" eth0 br1 "$B.$i/24" "00:1b:21:20:00:$(printf %02x "$i")"
		ip -n "$(nsname "bpc$i")" route add $A.0/24 via $B.1
		describe "bpc$i" workstation "$B.$i" "00:1b:21:20:00:$(printf %02x "$i")" '"subnet"="198.18.2.0/24"'
	done

	# Extra plain hosts for benchmarks: ARP and ICMP only.
	for i in $(seq 0 $((extra - 1))); do
		local h="x$i" n=$((100 + i))
		mkns "$h"
		attach "$h" eth0 br0 "$A.$n/24" "00:16:3e:30:00:$(printf %02x "$n")"
		describe "$h" plain "$A.$n" "00:16:3e:30:00:$(printf %02x "$n")"
	done

	# Fill the router's ARP cache for subnet B, as traffic would.
	# (a UDP datagram makes the kernel resolve each address; no ping needed).
	for i in 10 20 21; do
		ip netns exec "$(nsname router)" bash -c "echo hi >/dev/udp/$B.$i/9" 2>/dev/null || true
	done
	for i in $(seq 1 50); do
		[ "$(ip -n "$(nsname router)" neigh show dev eth1 | grep -c lladdr)" -ge 3 ] && break
		sleep 0.1
	done

	wait_udp router $A.1 "-v2c -c umbra-ro"
	wait_udp switch $A.2 "-v2c -c umbra-ro"
	wait_udp printer $A.10 "-v2c -c public"
	wait_udp server $A.11 "-v3 -l authPriv -u umbrav3 -a SHA -A umbra-auth-pass -x AES -X umbra-priv-pass"
	wait_udp bsrv $B.10 "-v2c -c public"

	{
		echo "{"
		echo "  \"name\": $(jstr "$name"), \"id\": $(jstr "$ID"),"
		echo "  \"scanner\": $(jstr "$(nsname scanner)"), \"switch\": $(jstr "$SW"),"
		echo "  \"subnets\": [\"$A.0/24\", \"$B.0/24\"],"
		echo "  \"silent\": [\"$A.30\", \"$A.31\", \"$A.99\", \"$B.99\"],"
		[ -n "$MGMT_JSON" ] && echo "$MGMT_JSON"
		echo "  \"hosts\": ["
		local n=${#HOSTS_JSON[@]} k
		for k in "${!HOSTS_JSON[@]}"; do
			if [ "$k" -lt $((n - 1)) ]; then echo "${HOSTS_JSON[$k]},"; else echo "${HOSTS_JSON[$k]}"; fi
		done
		echo "  ]"
		echo "}"
	} >"$DIR/desc.json"
	trap - ERR INT TERM
	cat "$DIR/desc.json"
}

hostexec() {
	local name=$1 host=$2
	shift 2
	local dir=$statebase/$name
	[ -f "$dir/id" ] || die "no network named $name"
	ID=$(cat "$dir/id")
	exec ip netns exec "$(nsname "$host")" "$@"
}

cmd=${1:-}
case "$cmd" in
up)
	[ $# -ge 2 ] || usage
	name=$2
	checkname "$name"
	extra=0 mgmt=0
	shift 2
	while [ $# -gt 0 ]; do
		case $1 in
		--extra)
			[[ ${2:-} =~ ^[0-9]+$ ]] || die "--extra needs a number"
			extra=$2
			shift 2
			;;
		--mgmt)
			mgmt=1
			shift
			;;
		*) usage ;;
		esac
	done
	up "$name" "$extra" "$mgmt"
	;;
down)
	[ $# -eq 2 ] || usage
	checkname "$2"
	down "$2"
	;;
exec)
	[ $# -ge 4 ] || usage
	checkname "$2"
	hostexec "$2" "$3" "${@:4}"
	;;
desc)
	[ $# -eq 2 ] || usage
	checkname "$2"
	cat "$statebase/$2/desc.json"
	;;
gc) gc ;;
*) usage ;;
esac

#!/usr/bin/env bash
# testnet-deps.sh — installs what scripts/testnet.sh and the discovery
# integration tests need: iproute2, the real Debian snmpd and its client
# tools, and ieee-data (the source of the embedded OUI table). Needs root.
set -euo pipefail
need=()
command -v ip >/dev/null || need+=(iproute2)
[ -x /usr/sbin/snmpd ] || need+=(snmpd)
command -v snmpget >/dev/null || need+=(snmp)
[ -f /usr/share/ieee-data/oui.csv ] || need+=(ieee-data)
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
		echo "testnet deps: missing ${need[*]}; install them (Debian/Ubuntu: apt-get install ${need[*]}) and run again as root" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y --no-install-recommends "${need[@]}" >/dev/null 2>&1; then
		apt-get update >/dev/null
		apt-get install -y --no-install-recommends "${need[@]}" >/dev/null
	fi
fi
echo "testnet deps: ok"

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
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}"
fi
echo "testnet deps: ok"

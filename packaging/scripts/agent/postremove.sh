#!/bin/sh
# umbra-agent postremove, for both package formats:
#   deb: remove | purge | upgrade | failed-upgrade | abort-install | abort-upgrade | disappear
#   rpm: 0 (erase) | 1 (upgrade)
# Tells a running systemd that the unit changed or went. The state folder
# /var/lib/umbra-agent (agent id, credential, unsent reports) is kept, even
# on purge: remove it by hand to make this host a new agent.
set -e

root="${DPKG_ROOT:-}"

if [ -z "$root" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	systemctl daemon-reload || true
fi
exit 0

#!/bin/sh
# umbra-collector postremove, for both package formats:
#   deb: remove | purge | upgrade | failed-upgrade | abort-install | abort-upgrade | disappear
#   rpm: 0 (erase) | 1 (upgrade)
# Tells a running systemd that the unit changed or went. The user umbra and
# the state folder /var/lib/umbra-collector are kept, even on purge: the
# folder holds the CA every enrolled agent pins, and losing it means
# enrolling every agent again.
set -e

root="${DPKG_ROOT:-}"

if [ -z "$root" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	systemctl daemon-reload || true
fi
exit 0

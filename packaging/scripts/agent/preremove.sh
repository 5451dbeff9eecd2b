#!/bin/sh
# umbra-agent preremove, for both package formats:
#   deb: remove | upgrade NEW-VERSION | deconfigure | failed-upgrade
#   rpm: 0 (erase) | 1 (upgrade)
# On removal it stops the service (under a running systemd) and disables
# it; on upgrade it leaves it alone (postinstall restarts it).
set -e

root="${DPKG_ROOT:-}"
unit=umbra-agent.service

case "$1" in
remove | deconfigure | 0) ;;
*) exit 0 ;;
esac

command -v systemctl >/dev/null 2>&1 || exit 0
if [ -z "$root" ] && [ -d /run/systemd/system ]; then
	systemctl stop "$unit" || true
fi
systemctl ${root:+"--root=$root"} disable "$unit" >/dev/null 2>&1 || true
exit 0

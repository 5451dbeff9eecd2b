#!/bin/sh
# umbra-agent postinstall, for both package formats:
#   deb: configure [OLD-VERSION] | abort-upgrade | abort-remove | abort-deconfigure
#   rpm: 1 (install) | 2 (upgrade)
# Under a running systemd it enables the service, and starts it once
# /etc/umbra/agent.yaml names a collector (before that it could only fail);
# on upgrade it restarts the service if it runs. Without a running systemd
# (a chroot, a container, an image being built, dpkg --root) it only makes
# the state folder and enables the unit offline: nothing is started.
set -e

root="${DPKG_ROOT:-}"
unit=umbra-agent.service
config=/etc/umbra/agent.yaml

case "$1" in
configure) [ -n "$2" ] && upgrade=yes || upgrade= ;;
abort-*) upgrade=yes ;;
1) upgrade= ;;
[0-9]*) upgrade=yes ;;
*) exit 0 ;;
esac

install -d -m 0700 "$root/var/lib/umbra-agent"
chmod 0700 "$root/var/lib/umbra-agent"

systemd_running() { [ -z "$root" ] && [ -d /run/systemd/system ]; }
have_systemctl() { command -v systemctl >/dev/null 2>&1; }

if ! have_systemctl; then
	exit 0
fi
if ! systemd_running; then
	if [ -z "$upgrade" ]; then
		systemctl ${root:+"--root=$root"} enable "$unit" >/dev/null 2>&1 || true
	fi
	exit 0
fi

systemctl daemon-reload || true
if [ -n "$upgrade" ]; then
	systemctl try-restart "$unit" || true
	exit 0
fi
systemctl enable "$unit" || true
if grep -Eq '^collector:[[:space:]]*[^[:space:]#]' "$config" 2>/dev/null; then
	systemctl start "$unit" || true
else
	echo "umbra-agent: set collector: in $config, enroll this host (umbra-agent enroll -h), then: systemctl start umbra-agent"
fi
exit 0

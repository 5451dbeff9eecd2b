#!/bin/sh
# umbra-collector postinstall, for both package formats:
#   deb: configure [OLD-VERSION] | abort-upgrade | abort-remove | abort-deconfigure
#   rpm: 1 (install) | 2 (upgrade)
# Makes the system user umbra and the state folder, and under a running
# systemd enables and starts the service (restarts it, if it runs, on
# upgrade). Without a running systemd (a chroot, a container, an image being
# built, dpkg --root) it enables the unit offline and starts nothing.
set -e

root="${DPKG_ROOT:-}"
unit=umbra-collector.service
user=umbra
state="$root/var/lib/umbra-collector"

case "$1" in
configure) [ -n "$2" ] && upgrade=yes || upgrade= ;;
abort-*) upgrade=yes ;;
1) upgrade= ;;
[0-9]*) upgrade=yes ;;
*) exit 0 ;;
esac

# The user: in the root being installed into (dpkg --root) only if it has
# an /etc/passwd to add to.
has_user() { grep -q "^$user:" "$root/etc/passwd" 2>/dev/null; }
if ! has_user && [ -f "$root/etc/passwd" ]; then
	nologin=/usr/sbin/nologin
	[ -x "$root$nologin" ] || nologin=/sbin/nologin
	useradd ${root:+--prefix "$root"} --system --user-group \
		--home-dir /var/lib/umbra-collector --no-create-home \
		--shell "$nologin" --comment "Umbra collector" "$user"
fi

install -d -m 0750 "$state"
chmod 0750 "$state"
if has_user; then
	# Numeric ids read from the root's own files, as chown would look up
	# the host's.
	ids=$(awk -F: -v u="$user" '$1 == u { print $3 ":" $4 }' "$root/etc/passwd")
	chown "$ids" "$state"
fi

command -v systemctl >/dev/null 2>&1 || exit 0
if [ -n "$root" ] || [ ! -d /run/systemd/system ]; then
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
systemctl start "$unit" || true
exit 0

#!/usr/bin/env bash
# Tests the Linux packages that scripts/package.sh builds (linux/amd64):
#   1. packaging/systemd/umbra-agent.service is exactly the unit that
#      agent/internal/osservice renders for `umbra-agent install`;
#   2. each .deb's control fields, files, modes, owners, conffiles, unit,
#      maintainer scripts (sh -n) and stamped version;
#   3. dpkg --root into a scratch root (no systemd there): files and state
#      folders made, only an offline `systemctl --root enable`, remove and
#      purge;
#   4. the maintainer scripts on a simulated live systemd host (a private
#      mount namespace with its own /run, /etc and /var/lib, and a fake
#      systemctl that records its calls), with deb and rpm arguments, and on
#      a host without systemd;
#   5. each .rpm lists the same files, modes, owners and config files.
# Needs root (dpkg, unshare); installs Debian's rpm package if missing.
# Prints one line per check and a PASS/FAIL summary; exits 1 on failure.
# UMBRA_UPDATE_UNIT=1 rewrites packaging/systemd/umbra-agent.service from
# the code instead of checking it.
set -uo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD

passed=0 failed=0
ok() { echo "ok    $*"; passed=$((passed + 1)); }
bad() { echo "FAIL  $*"; failed=$((failed + 1)); }
# check DESCRIPTION COMMAND…: the command's success is the check.
check() {
	local desc=$1
	shift
	if "$@" >/dev/null 2>&1; then ok "$desc"; else bad "$desc"; fi
}
# same DESCRIPTION GOT WANT
same() {
	if [ "$2" = "$3" ]; then
		ok "$1"
	else
		bad "$1"
		diff <(printf '%s\n' "$3") <(printf '%s\n' "$2") | sed 's/^/        /'
	fi
}
summary() {
	echo
	if [ "$failed" -eq 0 ]; then
		echo "package-test: PASS ($passed checks)"
		echo "$passed passed, $failed failed"
		exit 0
	fi
	echo "package-test: FAIL ($failed of $((passed + failed)) checks failed)"
	echo "$passed passed, $failed failed"
	exit 1
}

# The fake systemctl: records its arguments, one call a line, in $SYSTEMCTL_LOG.
make_fake_systemctl() {
	mkdir -p "$1"
	cat >"$1/systemctl" <<'EOF'
#!/bin/sh
echo "$*" >>"$SYSTEMCTL_LOG"
exit 0
EOF
	chmod 0755 "$1/systemctl"
}
calls() { if [ -f "$1" ]; then cat "$1"; fi; }

# --- 4. inside a private mount namespace (re-executed by the main part) ---
live() {
	local T=$1
	local ctl=$T/ctl
	set -e
	# This namespace's own /run (systemd "running"), /etc (a copy) and
	# /var/lib: nothing reaches the host's.
	mount -t tmpfs tmpfs /run
	mkdir -p /run/systemd/system "$T/etc" "$T/varlib"
	cp -a /etc/. "$T/etc/"
	mount --bind "$T/etc" /etc
	mount -t tmpfs tmpfs /var/lib
	set +e
	userdel umbra >/dev/null 2>&1 || true # a copy of the host's /etc
	local fake=$T/fakebin bin=$PATH
	make_fake_systemctl "$fake"
	export PATH=$fake:$bin
	run() { # run LOGNAME SCRIPT ARGS…
		local log=$T/live-$1.calls
		shift
		rm -f "$log"
		SYSTEMCTL_LOG=$log sh "$@" >/dev/null 2>&1
	}
	local a=$ctl/agent c=$ctl/collector
	mkdir -p /etc/umbra
	cp "$ROOT/packaging/config/agent.yaml" /etc/umbra/agent.yaml

	check "live deb: agent postinst configure succeeds" run a1 "$a/postinst" configure ""
	same "live deb: agent first install without a collector: reload and enable, no start" \
		"$(calls "$T/live-a1.calls")" "daemon-reload
enable umbra-agent.service"
	same "live: /var/lib/umbra-agent is a 0700 root:root folder" \
		"$(stat -c '%F %a %U:%G' /var/lib/umbra-agent)" "directory 700 root:root"

	echo "collector: https://collector.example.org:8470" >>/etc/umbra/agent.yaml
	run a2 "$a/postinst" configure ""
	same "live deb: agent first install with a collector: reload, enable, start" \
		"$(calls "$T/live-a2.calls")" "daemon-reload
enable umbra-agent.service
start umbra-agent.service"
	run a3 "$a/postinst" configure 0.9.0
	same "live deb: agent upgrade: reload, try-restart" \
		"$(calls "$T/live-a3.calls")" "daemon-reload
try-restart umbra-agent.service"
	run a4 "$a/prerm" upgrade 1.0.0
	same "live deb: agent prerm upgrade: nothing" "$(calls "$T/live-a4.calls")" ""
	run a5 "$a/prerm" remove
	same "live deb: agent prerm remove: stop, disable" \
		"$(calls "$T/live-a5.calls")" "stop umbra-agent.service
disable umbra-agent.service"
	run a6 "$a/postrm" purge
	same "live deb: agent postrm purge: reload" "$(calls "$T/live-a6.calls")" "daemon-reload"
	check "live deb: agent purge keeps the state folder" test -d /var/lib/umbra-agent

	run r1 "$a/postinst" 1
	same "live rpm: agent %post 1: reload, enable, start" \
		"$(calls "$T/live-r1.calls")" "daemon-reload
enable umbra-agent.service
start umbra-agent.service"
	run r2 "$a/postinst" 2
	same "live rpm: agent %post 2: reload, try-restart" \
		"$(calls "$T/live-r2.calls")" "daemon-reload
try-restart umbra-agent.service"
	run r3 "$a/prerm" 1
	same "live rpm: agent %preun 1 (upgrade): nothing" "$(calls "$T/live-r3.calls")" ""
	run r4 "$a/prerm" 0
	same "live rpm: agent %preun 0 (erase): stop, disable" \
		"$(calls "$T/live-r4.calls")" "stop umbra-agent.service
disable umbra-agent.service"

	check "live deb: collector postinst configure succeeds" run c1 "$c/postinst" configure ""
	same "live deb: collector first install: reload, enable, start" \
		"$(calls "$T/live-c1.calls")" "daemon-reload
enable umbra-collector.service
start umbra-collector.service"
	local pw
	pw=$(getent passwd umbra)
	same "live: system user umbra with no login shell" \
		"$(echo "$pw" | awk -F: '{ print ($3 < 1000) ":" $6 ":" ($7 ~ /nologin$/) }')" "1:/var/lib/umbra-collector:1"
	same "live: /var/lib/umbra-collector is a 0750 umbra:umbra folder" \
		"$(stat -c '%F %a %U:%G' /var/lib/umbra-collector)" "directory 750 umbra:umbra"
	check "live deb: collector reinstall with the user already there succeeds" run c2 "$c/postinst" configure 0.9.0
	same "live deb: collector upgrade: reload, try-restart" \
		"$(calls "$T/live-c2.calls")" "daemon-reload
try-restart umbra-collector.service"
	same "live: still one user umbra" "$(grep -c '^umbra:' /etc/passwd)" "1"
	run c3 "$c/prerm" remove
	same "live deb: collector prerm remove: stop, disable" \
		"$(calls "$T/live-c3.calls")" "stop umbra-collector.service
disable umbra-collector.service"

	# A container or chroot: no systemd running.
	rmdir /run/systemd/system
	run n1 "$a/postinst" configure ""
	same "no systemd, systemctl present: agent only enabled offline" \
		"$(calls "$T/live-n1.calls")" "enable umbra-agent.service"
	run n2 "$c/prerm" remove
	same "no systemd, systemctl present: collector only disabled offline" \
		"$(calls "$T/live-n2.calls")" "disable umbra-collector.service"
	export PATH=$bin
	local s
	for s in "$a/postinst configure" "$a/prerm remove" "$a/postrm purge" "$c/postinst configure" "$c/prerm remove" "$c/postrm purge"; do
		# shellcheck disable=SC2086
		check "no systemd, no systemctl: ${s#"$ctl"/} succeeds" sh $s
	done
	echo "$passed $failed" >"$T/live.result"
}

if [ "${1:-}" = __live ]; then
	passed=0 failed=0
	live "$2"
	exit 0
fi

# --- main part ---
if [ "$(id -u)" != 0 ]; then
	echo "package-test: needs root (dpkg --root, unshare for the simulated host)" >&2
	exit 1
fi
missing=()
command -v rpm >/dev/null || missing+=(rpm)
command -v unshare >/dev/null || missing+=(util-linux)
command -v useradd >/dev/null || missing+=(passwd)
if [ ${#missing[@]} -gt 0 ]; then
	echo "package-test: installing ${missing[*]}"
	apt-get install -y -qq "${missing[@]}" >/dev/null || { apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null; } ||
		{ echo "package-test: cannot install ${missing[*]}" >&2; exit 1; }
fi

T=$(mktemp -d /tmp/umbra-package-test.XXXXXX)
trap 'rm -rf "$T"' EXIT

echo "== 1. the agent's unit is what osservice renders"
UNIT=$ROOT/packaging/systemd/umbra-agent.service
cat >"$T/unit_test.go" <<'EOF'
package osservice

// Added to the package for one run by scripts/package-test.sh with
// go test -overlay: renders the unit as TestSystemdUnit does, for the paths
// the .deb and .rpm install.

import (
	"os"
	"testing"

	"github.com/kardianos/service"
)

func TestPackagedUnit(t *testing.T) {
	c := serviceConfig(Options{Executable: "/usr/bin/umbra-agent", ConfigPath: "/etc/umbra/agent.yaml"}, "linux")
	data := &struct {
		*service.Config
		Path                 string
		HasOutputFileSupport bool
		ReloadSignal         string
		PIDFile              string
		LimitNOFILE          int
		Restart              string
		SuccessExitStatus    string
		LogOutput            bool
		LogDirectory         string
	}{Config: c, Path: c.Executable, LimitNOFILE: -1, Restart: c.Option["Restart"].(string), LogDirectory: "/var/log"}
	unit := render(t, c.Option["SystemdScript"].(string), linuxFuncs, data)
	if err := os.WriteFile(os.Getenv("UMBRA_RENDERED_UNIT"), []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
}
EOF
printf '{"Replace":{"%s":"%s"}}\n' "$ROOT/agent/internal/osservice/zz_packaged_unit_test.go" "$T/unit_test.go" >"$T/overlay.json"
if (cd agent && UMBRA_RENDERED_UNIT=$T/rendered.service go test -count=1 -overlay "$T/overlay.json" \
	-run '^TestPackagedUnit$' ./internal/osservice >"$T/unit.log" 2>&1); then
	if [ "${UMBRA_UPDATE_UNIT:-}" = 1 ]; then
		cp "$T/rendered.service" "$UNIT"
		echo "package-test: wrote $UNIT"
	fi
	if cmp -s "$T/rendered.service" "$UNIT"; then
		ok "packaging/systemd/umbra-agent.service = osservice's unit for /usr/bin/umbra-agent, /etc/umbra/agent.yaml"
	else
		bad "packaging/systemd/umbra-agent.service differs from osservice's unit (UMBRA_UPDATE_UNIT=1 $0 rewrites it):"
		diff "$UNIT" "$T/rendered.service" | sed 's/^/        /'
	fi
else
	bad "rendering the unit with go test -overlay in agent/internal/osservice:"
	sed 's/^/        /' "$T/unit.log"
fi

echo "== building the packages (scripts/package.sh --linux-arch amd64 --no-archives)"
VERSION=v1.2.3-4-gabcdef0 scripts/package.sh --out "$T/dist" --linux-arch amd64 --no-archives >"$T/build.log" 2>&1
status=$?
sed 's/^/        /' "$T/build.log"
if [ $status -ne 0 ]; then
	bad "scripts/package.sh exited $status"
	summary
fi
PV=1.2.3+git4.abcdef0
deb() { echo "$T/dist/$1_${PV}-1_amd64.deb"; }
rpmf() { echo "$T/dist/$1-${PV}-1.x86_64.rpm"; }
for p in umbra-agent umbra-collector; do
	check "dist has $(basename "$(deb $p)")" test -f "$(deb $p)"
	check "dist has $(basename "$(rpmf $p)")" test -f "$(rpmf $p)"
done

# What each package installs: mode owner/group path, files only.
AGENT_FILES="-rw------- root/root /etc/umbra/agent.yaml
-rwxr-xr-x root/root /usr/bin/umbra-agent
-rw-r--r-- root/root /usr/lib/systemd/system/umbra-agent.service"
COLLECTOR_FILES="-rw------- root/root /etc/umbra/collector.env
-rwxr-xr-x root/root /usr/bin/umbra
-rwxr-xr-x root/root /usr/bin/umbra-collector
-rw-r--r-- root/root /usr/lib/systemd/system/umbra-collector.service"

echo "== 2. the .deb files"
for p in agent collector; do
	pkg=umbra-$p
	d=$(deb $pkg)
	[ -f "$d" ] || continue
	same "$pkg.deb: Package, Version, Architecture" \
		"$(dpkg-deb -f "$d" Package Version Architecture)" "Package: $pkg
Version: $PV-1
Architecture: amd64"
	want=AGENT_FILES
	[ $p = collector ] && want=COLLECTOR_FILES
	same "$pkg.deb: files, modes and owners" \
		"$(dpkg-deb -c "$d" | awk '$1 !~ /^d/ { sub(/^\./, "", $6); print $1, $2, $6 }' | sort -k3)" "${!want}"
	conf=/etc/umbra/agent.yaml
	[ $p = collector ] && conf=/etc/umbra/collector.env
	same "$pkg.deb: conffiles" "$(dpkg-deb -I "$d" conffiles)" "$conf"
	mkdir -p "$T/ctl/$p" "$T/x/$p"
	dpkg-deb -e "$d" "$T/ctl/$p"
	dpkg-deb -x "$d" "$T/x/$p"
	for s in postinst prerm postrm; do
		check "$pkg.deb: $s exists, executable" test -x "$T/ctl/$p/$s"
		check "$pkg.deb: $s passes sh -n" sh -n "$T/ctl/$p/$s"
	done
	check "$pkg.deb: no preinst" test ! -e "$T/ctl/$p/preinst"
done
U=$T/x/agent/usr/lib/systemd/system/umbra-agent.service
check "umbra-agent.deb: unit is packaging/systemd/umbra-agent.service" cmp "$U" "$UNIT"
check "umbra-agent.deb: unit has the quoted ExecStart" \
	grep -qx 'ExecStart="/usr/bin/umbra-agent" "run" "--config" "/etc/umbra/agent.yaml"' "$U"
check "umbra-agent.deb: unit has Restart=on-failure" grep -qx 'Restart=on-failure' "$U"
check "umbra-agent.deb: unit is enabled into multi-user.target" grep -qx 'WantedBy=multi-user.target' "$U"
U=$T/x/collector/usr/lib/systemd/system/umbra-collector.service
for line in 'ExecStart="/usr/bin/umbra-collector" "serve"' 'Restart=on-failure' 'User=umbra' \
	'EnvironmentFile=-/etc/umbra/collector.env' 'StateDirectory=umbra-collector' 'WantedBy=multi-user.target'; do
	check "umbra-collector.deb: unit has $line" grep -qxF "$line" "$U"
done
same "umbra-agent.deb: binary is stamped with the version" \
	"$("$T/x/agent/usr/bin/umbra-agent" version | awk '{ print $2 }')" "v1.2.3-4-gabcdef0"
check "umbra-agent.deb: binary is static (CGO_ENABLED=0)" \
	sh -c "file '$T/x/agent/usr/bin/umbra-agent' 2>/dev/null | grep -q 'statically linked' || ! ldd '$T/x/agent/usr/bin/umbra-agent' >/dev/null 2>&1"
check "umbra-collector.deb: umbra-collector runs (-h)" sh -c "'$T/x/collector/usr/bin/umbra-collector' -h 2>&1 | grep -q Usage"

echo "== 3. dpkg --root into a scratch root without systemd"
R=$T/root
mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates" "$R/var/lib/dpkg/triggers" "$R/etc"
touch "$R/var/lib/dpkg/status" "$R/var/lib/dpkg/available"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$R/etc/passwd"
printf 'root:x:0:\n' >"$R/etc/group"
printf 'root:*:19000:0:99999:7:::\n' >"$R/etc/shadow"
printf 'root:*::\n' >"$R/etc/gshadow"
make_fake_systemctl "$T/fakebin"
host_passwd=$(md5sum </etc/passwd)
dpkgr() {
	SYSTEMCTL_LOG=$T/root.calls PATH=$T/fakebin:$PATH \
		dpkg --root="$R" --force-script-chrootless --force-not-root --log=/dev/null "$@" >"$T/dpkg.log" 2>&1 ||
		{ sed 's/^/        /' "$T/dpkg.log"; return 1; }
}
rm -f "$T/root.calls"
check "dpkg --root -i umbra-agent.deb" dpkgr -i "$(deb umbra-agent)"
check "dpkg --root -i umbra-collector.deb" dpkgr -i "$(deb umbra-collector)"
same "scratch root: installed files, modes and owners" \
	"$(cd "$R" && find etc/umbra usr -type f -printf '%M %u/%g /%p\n' | sort -k3)" \
	"$(printf '%s\n%s\n' "$AGENT_FILES" "$COLLECTOR_FILES" | sort -k3)"
same "scratch root: /var/lib/umbra-agent is 0700 root" "$(stat -c '%a %U' "$R/var/lib/umbra-agent")" "700 root"
uid=$(awk -F: '$1 == "umbra" { print $3 ":" $4 }' "$R/etc/passwd")
check "scratch root: user umbra made in the root's /etc/passwd" test -n "$uid"
same "scratch root: /var/lib/umbra-collector is 0750 umbra" \
	"$(stat -c '%a %u:%g' "$R/var/lib/umbra-collector")" "750 $uid"
same "scratch root: the host's /etc/passwd is untouched" "$(md5sum </etc/passwd)" "$host_passwd"
same "scratch root: systemctl only enabled the units offline in the root" "$(calls "$T/root.calls")" \
	"--root=$R enable umbra-agent.service
--root=$R enable umbra-collector.service"
rm -f "$T/root.calls"
check "dpkg --root -r umbra-agent" dpkgr -r umbra-agent
same "scratch root: remove disabled the unit offline" "$(calls "$T/root.calls")" "--root=$R disable umbra-agent.service"
check "scratch root: remove took the binary" test ! -e "$R/usr/bin/umbra-agent"
check "scratch root: remove kept the conffile" test -f "$R/etc/umbra/agent.yaml"
check "dpkg --root -P umbra-agent" dpkgr -P umbra-agent
check "scratch root: purge took the conffile" test ! -e "$R/etc/umbra/agent.yaml"
check "scratch root: purge kept the state folder" test -d "$R/var/lib/umbra-agent"
check "dpkg --root -P umbra-collector" dpkgr -P umbra-collector
check "scratch root: nothing of ours left in /usr" test -z "$(find "$R/usr" -type f 2>/dev/null)"

echo "== 4. the maintainer scripts on a simulated live host (private mount namespace)"
if unshare -m --propagation private -- "$0" __live "$T"; then :; fi
if [ -f "$T/live.result" ]; then
	read -r p f <"$T/live.result"
	passed=$((passed + p)) failed=$((failed + f))
else
	bad "the simulated host did not run to the end"
fi

echo "== 5. the .rpm files"
for p in agent collector; do
	pkg=umbra-$p
	r=$(rpmf $pkg)
	[ -f "$r" ] || continue
	want=AGENT_FILES
	[ $p = collector ] && want=COLLECTOR_FILES
	same "$pkg.rpm: lists the same files, modes and owners as the .deb" \
		"$(rpm -qlvp "$r" 2>/dev/null | awk '$1 !~ /^d/ { print $1, $3 "/" $4, $9 }' | sort -k3)" "${!want}"
	conf=/etc/umbra/agent.yaml
	[ $p = collector ] && conf=/etc/umbra/collector.env
	same "$pkg.rpm: config files" "$(rpm -qcp "$r" 2>/dev/null)" "$conf"
	same "$pkg.rpm: name, version, release, arch" \
		"$(rpm -qp --qf '%{NAME} %{VERSION} %{RELEASE} %{ARCH}\n' "$r" 2>/dev/null)" "$pkg $PV 1 x86_64"
	for pair in POSTIN:postinst PREUN:prerm POSTUN:postrm; do
		same "$pkg.rpm: %${pair%:*} is the .deb's ${pair#*:}" \
			"$(rpm -qp --qf "%{${pair%:*}}" "$r" 2>/dev/null)" "$(cat "$T/ctl/$p/${pair#*:}")"
	done
done

summary

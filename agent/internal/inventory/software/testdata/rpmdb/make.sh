#!/bin/sh
# Regenerates the Berkeley DB and NDB rpm databases of the fixture trees
# centos7/ and opensuse/ (and records rpmdb.list, what `rpm -qa` says of
# them). The tests do not run it and need none of its tools.
#
# Needs: rpmbuild and rpm (Debian: apt-get install rpm), sqlite3,
# db5.3_load (apt-get install db5.3-util) and, for NDB, an rpm built with
# --enable-ndb, whose path is RPM_NDB (Debian's rpm 4.18 has only the
# sqlite and bdb_ro backends: `rpm --showrc | grep backends`). One way:
#   apt-get source rpm && apt-get build-dep rpm && cd rpm-4.18.0+dfsg &&
#   ./configure --prefix=/opt/rpm-ndb --enable-ndb --enable-sqlite=yes \
#     --disable-plugins --without-selinux --without-audit --disable-nls \
#     --disable-python LUA_CFLAGS="$(pkg-config --cflags lua5.3)" \
#     LUA_LIBS="$(pkg-config --libs lua5.3)" && make && make install
#   RPM_NDB=/opt/rpm-ndb/bin/rpm sh make.sh
#
# What it does: builds three small packages with rpmbuild, records them in
# a scratch sqlite rpmdb with `rpm -i --justdb`, then
#  - Berkeley DB: writes the same (instance → header blob) records, the
#    layout of rpm's Packages file (key: the header instance as a
#    little-endian uint32; key 0 holds the last instance used), with the
#    real Berkeley DB 5.3 (db5.3_load -t hash), the library and version
#    RHEL 8 uses; `rpm --define '_db_backend bdb_ro' -qa` must list them;
#  - NDB: installs the packages again with the ndb backend.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
soft=$(cd "$here/../.." && pwd)/testdata
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export SOURCE_DATE_EPOCH=1700000000

mkdir -p "$work/SPECS"
cat >"$work/SPECS/umbra-hello.spec" <<'SPEC'
Name:      umbra-hello
Epoch:     1
Version:   2.12.1
Release:   3.el8
Summary:   A greeting for the fixtures
License:   MIT
Vendor:    Umbra Fixtures Inc.
Packager:  Umbra Build System <build@example.com>
BuildArch: x86_64
%description
Prints a greeting.
%install
mkdir -p %{buildroot}/usr/share/umbra-hello
echo hello >%{buildroot}/usr/share/umbra-hello/greeting
%files
/usr/share/umbra-hello/greeting
SPEC
cat >"$work/SPECS/umbra-outils.spec" <<'SPEC'
Name:      umbra-outils
Version:   0.9
Release:   1
Summary:   Outils réseau pour les essais — non-ASCII summary
License:   Apache-2.0
Packager:  Équipe Umbra <equipe@example.com>
BuildArch: noarch
%description
Un paquet sans fichier ni fournisseur.
%files
SPEC
# A header larger than a Berkeley DB page (4 KiB): its overflow chain
# spans several pages.
{
	cat <<'SPEC'
Name:      umbra-big
Version:   5.0.0
Release:   0.rc1
Summary:   A package with a long description
License:   MIT
Vendor:    Umbra Fixtures Inc.
BuildArch: x86_64
%description
SPEC
	i=0
	while [ $i -lt 300 ]; do
		echo "Line $i of a long description that makes the header span several database pages."
		i=$((i + 1))
	done
	cat <<'SPEC'
%files
SPEC
} >"$work/SPECS/umbra-big.spec"

for s in "$work"/SPECS/*.spec; do
	rpmbuild --quiet -bb --define "_topdir $work" --define '_build_id_links none' "$s"
done
rpms=$(find "$work/RPMS" -name '*.rpm' | sort)

# The packages in a scratch sqlite rpmdb.
mkdir -p "$work/sqlite"
rpm --dbpath "$work/sqlite" --initdb
rpm --dbpath "$work/sqlite" -i --justdb --nodeps --noscripts --ignorearch $rpms

# Berkeley DB: db_load's "bytevalue" dump format, one " hex" line for each
# key and each value. $1 is extra header lines, $2 "le" or "be": the byte
# order of the keys, which rpm writes in the host's; $3 the page size, $4
# an SQL condition on the packages.
bdbdump() {
	printf 'VERSION=3\nformat=bytevalue\ntype=hash\ndb_pagesize=%s\n%sHEADER=END\n' "${3:-4096}" "$1"
	key() {
		if [ "$2" = le ]; then
			printf '%08x' "$1" | sed 's/\(..\)\(..\)\(..\)\(..\)/\4\3\2\1/'
		else
			printf '%08x' "$1"
		fi
	}
	last=$(sqlite3 "$work/sqlite/rpmdb.sqlite" 'SELECT max(hnum) FROM Packages')
	# key 0: the last instance used, as rpm's BDB backend keeps it
	printf ' 00000000\n %s\n' "$(key "$last" "$2")"
	sqlite3 "$work/sqlite/rpmdb.sqlite" "SELECT hnum, hex(blob) FROM Packages WHERE ${4:-1} ORDER BY hnum" |
		while IFS='|' read -r n blob; do
			printf ' %s\n %s\n' "$(key "$n" "$2")" "$(echo "$blob" | tr 'A-F' 'a-f')"
		done
	printf 'DATA=END\n'
}
bdb="$soft/centos7/var/lib/rpm"
mkdir -p "$bdb"
rm -f "$bdb/Packages" "$here/Packages-bigendian" "$here/Packages-checksums" "$here/Packages-small"
bdbdump "" le | db5.3_load -t hash "$bdb/Packages"
# As an s390x host writes it, and with page checksums (DB_CHKSUM).
bdbdump "db_lorder=4321
" be | db5.3_load -t hash "$here/Packages-bigendian"
bdbdump "chksum=1
" le | db5.3_load -t hash "$here/Packages-checksums"
# The smallest: one package in 512-byte pages, a seed for the fuzzer.
bdbdump "" le 512 "hnum = (SELECT min(hnum) FROM Packages)" | db5.3_load -t hash "$here/Packages-small"
rpm --dbpath "$bdb" --define '_db_backend bdb_ro' -qa 2>/dev/null --qf '%{NAME} %{EPOCHNUM}:%{VERSION}-%{RELEASE} %{ARCH}\n' |
	sort >"$here/bdb.list"

# NDB.
if [ -n "${RPM_NDB:-}" ]; then
	ndb="$soft/opensuse/var/lib/rpm"
	mkdir -p "$ndb"
	rm -f "$ndb"/*
	"$RPM_NDB" --dbpath "$work/ndb" --define '_db_backend ndb' --initdb
	"$RPM_NDB" --dbpath "$work/ndb" --define '_db_backend ndb' -i --justdb --nodeps --noscripts --ignorearch $rpms
	cp "$work/ndb/Packages.db" "$ndb/Packages.db"
	"$RPM_NDB" --dbpath "$ndb" --define '_db_backend ndb' -qa 2>/dev/null --qf '%{NAME} %{EPOCHNUM}:%{VERSION}-%{RELEASE} %{ARCH}\n' |
		sort >"$here/ndb.list"
	rm -f "$ndb/Index.db"
	# The smallest: one package, a seed for the fuzzer.
	"$RPM_NDB" --dbpath "$work/ndb-small" --define '_db_backend ndb' --initdb
	"$RPM_NDB" --dbpath "$work/ndb-small" --define '_db_backend ndb' -i --justdb --nodeps --noscripts --ignorearch \
		"$(find "$work/RPMS" -name 'umbra-outils-*.rpm')"
	cp "$work/ndb-small/Packages.db" "$here/Packages-small.db"
else
	echo "RPM_NDB unset: the NDB fixture is left as it is" >&2
fi

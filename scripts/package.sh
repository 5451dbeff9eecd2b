#!/usr/bin/env bash
# Builds the release packages into dist/:
#   umbra-agent_VERSION_{amd64,arm64}.deb, umbra-agent-VERSION-1.{x86_64,aarch64}.rpm
#   umbra-collector_… the same (umbra-collector and the umbra CLI)
#   umbra-agent_VERSION_windows_amd64.zip, umbra-agent_VERSION_darwin_{arm64,amd64}.tar.gz
#     (the agent binary, INSTALL.txt and agent.yaml.example)
# with nfpm (pinned below, installed into .umbra/bin on first use).
#
# Usage: scripts/package.sh [--out DIR] [--linux-arch "amd64 arm64"] [--no-archives]
# VERSION (default: git describe) is stamped into the binaries.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD

NFPM_VERSION=v2.45.2
OUT=dist
LINUX_ARCHES="amd64 arm64"
ARCHIVES=yes
while [ $# -gt 0 ]; do
	case "$1" in
	--out) OUT=$2; shift 2 ;;
	--linux-arch) LINUX_ARCHES=$2; shift 2 ;;
	--no-archives) ARCHIVES=; shift ;;
	-h | --help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "package.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done

VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
LDFLAGS="-s -w -X github.com/umbrasec/umbra/shared/version.Version=$VERSION"

# The package version: a tag v1.2.3 gives 1.2.3, v1.2.3-4-gabcdef0 gives
# 1.2.3+git4.abcdef0; anything else (no tag yet) 0.0.0~git.<describe>, which
# sorts before 0.0.0 in dpkg and rpm. Only [0-9A-Za-z.+~] survive.
pkg_version() {
	local v=${1#v}
	if [[ $v =~ ^([0-9]+\.[0-9]+\.[0-9]+)(-([0-9]+)-g([0-9a-f]+))?(-dirty)?$ ]]; then
		v=${BASH_REMATCH[1]}
		[ -n "${BASH_REMATCH[2]}" ] && v+="+git${BASH_REMATCH[3]}.${BASH_REMATCH[4]}"
		[ -n "${BASH_REMATCH[5]}" ] && v+=".dirty"
	else
		v="0.0.0~git.$(printf '%s' "$v" | tr -c '0-9A-Za-z' '.')"
	fi
	printf '%s\n' "$v"
}
PKG_VERSION=$(pkg_version "$VERSION")

NFPM=$ROOT/.umbra/bin/nfpm-$NFPM_VERSION
if [ ! -x "$NFPM" ]; then
	echo "package: installing nfpm $NFPM_VERSION into .umbra/bin"
	tmp=$(mktemp -d)
	GOBIN=$tmp go install "github.com/goreleaser/nfpm/v2/cmd/nfpm@$NFPM_VERSION"
	mkdir -p "$(dirname "$NFPM")"
	mv "$tmp/nfpm" "$NFPM"
	rmdir "$tmp"
fi

# The nfpm configurations read the binaries from a fixed folder: one build
# at a time.
BUILD=$ROOT/.umbra/package
mkdir -p "$ROOT/.umbra"
exec 9>"$ROOT/.umbra/package.lock"
flock 9
rm -rf "$BUILD"
mkdir -p "$BUILD" "$OUT"
OUT=$(cd "$OUT" && pwd)

# build GOOS GOARCH MODULE PACKAGE… : binaries into $BUILD/GOOS_GOARCH/.
build() {
	local goos=$1 goarch=$2 module=$3
	shift 3
	local dir=$BUILD/${goos}_$goarch
	mkdir -p "$dir"
	(cd "$ROOT/$module" && CGO_ENABLED=0 GOOS=$goos GOARCH=$goarch \
		go build -trimpath -ldflags "$LDFLAGS" -o "$dir/" "$@")
}

export UMBRA_PKG_VERSION=$PKG_VERSION
for arch in $LINUX_ARCHES; do
	build linux "$arch" agent ./cmd/umbra-agent
	build linux "$arch" collector ./cmd/umbra-collector ./cmd/umbra
	# nfpm expands no variables in contents: the configurations take the
	# binaries from one staging folder.
	rm -rf "$BUILD/linux"
	cp -r "$BUILD/linux_$arch" "$BUILD/linux"
	export UMBRA_ARCH=$arch
	for pkg in agent collector; do
		for fmt in deb rpm; do
			"$NFPM" package --config "packaging/nfpm/$pkg.yaml" --packager "$fmt" --target "$OUT/" >"$BUILD/nfpm.log" 2>&1 ||
				{ cat "$BUILD/nfpm.log" >&2; exit 1; }
			sed -n "s|.*created package: .*/|package: wrote $OUT/|p" "$BUILD/nfpm.log"
		done
	done
done

if [ -n "$ARCHIVES" ]; then
	if ! command -v zip >/dev/null; then
		if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
			apt-get install -y -qq zip >/dev/null
		else
			echo "package: zip is missing (apt-get install zip)" >&2
			exit 1
		fi
	fi
	for target in windows/amd64 darwin/arm64 darwin/amd64; do
		goos=${target%/*} goarch=${target#*/}
		build "$goos" "$goarch" agent ./cmd/umbra-agent
		name=umbra-agent_${VERSION}_${goos}_$goarch
		stage=$BUILD/archive/$name
		mkdir -p "$stage"
		cp "$BUILD/${goos}_$goarch"/umbra-agent* "$stage/"
		cp "packaging/install/$goos.txt" "$stage/INSTALL.txt"
		cp packaging/config/agent.yaml "$stage/agent.yaml.example"
		if [ "$goos" = windows ]; then
			sed -i 's/$/\r/' "$stage/INSTALL.txt" "$stage/agent.yaml.example"
			rm -f "$OUT/$name.zip"
			(cd "$BUILD/archive" && zip -qrX "$OUT/$name.zip" "$name")
			echo "package: wrote $OUT/$name.zip"
		else
			tar -C "$BUILD/archive" --owner=0 --group=0 --numeric-owner --sort=name \
				-czf "$OUT/$name.tar.gz" "$name"
			echo "package: wrote $OUT/$name.tar.gz"
		fi
	done
fi
echo "package: $VERSION (package version $PKG_VERSION) in $OUT"

#!/usr/bin/env bash
# test.sh — what `make test` runs: installs what the suite needs, starts a
# private ClickHouse for the integration tests, runs every module's tests with
# -race, then lint and the cross-platform builds. Stops what it started.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# A fresh directory per run: two runs on one machine never share a server.
chdir=$(mktemp -d "${TMPDIR:-/tmp}/umbra-test-ch.XXXXXX")
cleanup() {
	"$root/scripts/clickhouse.sh" stop "$chdir" >/dev/null 2>&1 || true
	rm -rf "$chdir"
}
trap cleanup EXIT

echo "==> installing what the suite needs"
if [ "$(id -u)" = 0 ]; then
	"$root/scripts/testnet-deps.sh"
else
	echo "not root: the namespace test-bed tests will skip (and fail when CI is set)"
fi

echo "==> starting a private ClickHouse for the integration tests"
UMBRA_TEST_CLICKHOUSE=$("$root/scripts/clickhouse.sh" start "$chdir")
export UMBRA_TEST_CLICKHOUSE

echo "==> go test -race (ClickHouse at $UMBRA_TEST_CLICKHOUSE)"
logdir=$(mktemp -d "${TMPDIR:-/tmp}/umbra-test-log.XXXXXX")
status=0
for m in shared agent collector; do
	# -v so every test's result can be counted; the terminal gets the
	# package lines, and a failing module's whole log.
	if (cd "$m" && go test -race -count=1 -v ./... >"$logdir/$m.log" 2>&1); then
		grep -E '^(ok|FAIL|\?|panic:)' "$logdir/$m.log" || true
	else
		status=1
		# Each failure with what its test logged before it (go test -v
		# prints a test's log as it runs, its --- FAIL line at its end),
		# then the end of the log (a panic, a race, a package that failed
		# with no test failing).
		echo "---- $m failed; its failures:"
		grep -E -B 40 -A 5 '^\s*--- FAIL' "$logdir/$m.log" | grep -vE '^(=== (RUN|PAUSE|CONT|NAME)|\s*--- PASS)' | head -n 400
		echo "---- the end of its test log:"
		grep -vE '^(=== (RUN|PAUSE|CONT|NAME)|\s*--- PASS)' "$logdir/$m.log" | tail -n 200
		keep=1
	fi
done
passed=$(cat "$logdir"/*.log | grep -cE '^\s*--- PASS' || true)
failed=$(cat "$logdir"/*.log | grep -cE '^\s*--- FAIL' || true)
skipped=$(cat "$logdir"/*.log | grep -cE '^\s*--- SKIP' || true)
if [ "$skipped" != 0 ]; then
	echo "skipped (with their reasons):"
	cat "$logdir"/*.log | grep -A1 -E '^\s*--- SKIP' | grep -v '^--$' | sed 's/^/  /'
fi
if [ -n "${keep:-}" ]; then
	echo "the whole test logs are kept in $logdir"
else
	rm -rf "$logdir"
fi
if [ "$status" != 0 ]; then
	echo "tests: $passed passed, $failed failed, $skipped skipped"
	exit 1
fi

echo "==> lint"
make -s lint

echo "==> cross-platform builds"
make -s cross

if [ "$(id -u)" = 0 ]; then
	echo "==> packages (.deb/.rpm built and installed into a scratch root)"
	scripts/package-test.sh
elif [ -n "${CI:-}" ]; then
	echo "package test needs root, and CI is set" >&2
	exit 1
fi

echo "tests: $passed passed, $failed failed, $skipped skipped"

# Umbra — the two commands are `make run` and `make test`; see README.md.
SHELL := /bin/bash
MODULES := shared agent collector
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/umbrasec/umbra/shared/version.Version=$(VERSION)
GOBIN_LOCAL := $(CURDIR)/.umbra/bin
STATICCHECK_VERSION := v0.8.2
# Every platform the agent ships on; per-OS files must always compile.
PLATFORMS := linux/amd64 linux/arm64 windows/amd64 darwin/arm64

.PHONY: all build run stop test test-go lint cross tools clean bench package package-test

all: build

build:
	@mkdir -p bin
	# Static, as the packages ship it (scripts/package.sh): what the benchmarks
	# measure is what runs on the hosts.
	cd agent && CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o ../bin/ ./cmd/umbra-agent
	cd collector && go build -trimpath -ldflags '$(LDFLAGS)' -o ../bin/ ./cmd/umbra-collector ./cmd/umbra ./cmd/umbra-loadgen

run:
	@scripts/run.sh

stop:
	@scripts/run.sh stop

# The whole suite: unit and integration tests (against a private ClickHouse
# that this target starts and stops), lint, and cross-compilation.
test:
	@scripts/test.sh

# The Go tests alone; scripts/test.sh calls this with UMBRA_TEST_CLICKHOUSE set.
test-go:
	@set -e; for m in $(MODULES); do (cd $$m && go test -race -count=1 ./...); done

lint: tools
	@out=$$(gofmt -l $(MODULES) scripts); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	@set -e; for m in $(MODULES); do (cd $$m && go vet ./... && $(GOBIN_LOCAL)/staticcheck ./...); done
	@echo "lint: gofmt, go vet and staticcheck clean"

# .deb/.rpm (linux amd64, arm64) and the Windows/macOS agent archives in dist/.
package:
	@VERSION='$(VERSION)' scripts/package.sh

# Builds the amd64 packages and checks them in a scratch root (needs root).
package-test:
	@scripts/package-test.sh

# Umbra against its peers (nmap, arp-scan, fusioninventory-agent) in one run,
# plus the Go benchmarks; figures in .umbra/bench/results.md and the README.
bench:
	@scripts/bench.sh

cross:
	@set -e; for p in $(PLATFORMS); do \
		for m in $(MODULES); do \
			(cd $$m && GOOS=$${p%/*} GOARCH=$${p#*/} go build ./... && GOOS=$${p%/*} GOARCH=$${p#*/} go vet ./...); \
		done; echo "cross: $$p builds"; \
	done

tools: $(GOBIN_LOCAL)/staticcheck

$(GOBIN_LOCAL)/staticcheck:
	GOBIN=$(GOBIN_LOCAL) go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

clean: stop
	rm -rf bin dist .umbra

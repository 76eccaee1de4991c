# sluice developer tasks. GNU make; recipes use tabs.

GO          ?= go
BIN         := bin
# staticcheck 2026.2.2 (module v0.8.2), pinned.
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
FUZZTIME    ?= 10s
BENCH_PKGS  := ./rewrite ./headers ./lb ./server ./pool ./hcheck ./hcheck/hcexpr ./modrewrite
# Binaries are static (no cgo): nothing in sluice needs C, and a binary that
# maps no libc or dynamic loader holds about 1.4 MiB less resident memory,
# with the same instructions per request (docs/benchmarks.md). Host names
# then resolve through Go's own resolver (docs/compatibility.md).
STATIC      := CGO_ENABLED=0
# -version and sluice_build_info name the commit git describes; without git
# (a source tarball) they say "dev" and the build stays reproducible.
VERSION     ?= $(shell git describe --always --dirty 2>/dev/null)
LDFLAGS     := $(if $(VERSION),-X main.version=$(VERSION))

.PHONY: build run test lint fuzz-smoke bench pgo soak clean

build:
	$(STATIC) $(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/sluice ./cmd/sluice
	$(STATIC) $(GO) build -o $(BIN)/demo-backends ./cmd/demo-backends

# Demo backends run in the background; the trap stops them however sluice exits.
run: build
	@echo "Try:"
	@echo "  curl -i http://127.0.0.1:8080/            (balanced across backends 1-3)"
	@echo "  curl -i http://127.0.0.1:8080/redirect    (Location rewritten by ProxyPassReverse)"
	@echo "  curl -i http://127.0.0.1:8080/cookie      (cookie Domain rewritten by ProxyPassReverseCookieDomain)"
	@echo "  curl -i http://127.0.0.1:8080/static/x    (excluded from proxying: 404)"
	@echo "  curl -i 'http://127.0.0.1:8080/slow?ms=500'"
	@echo "  curl -s http://127.0.0.1:9090/api/balancers   (balancer-manager API; page at http://127.0.0.1:9090/)"
	@echo "Ctrl-C stops everything."
	@$(BIN)/demo-backends & pid=$$!; \
	trap 'kill $$pid 2>/dev/null; wait $$pid 2>/dev/null' EXIT INT TERM; \
	$(BIN)/sluice -config examples/quickstart.conf

test: lint chromium etcd app-servers
	@unformatted=$$(gofmt -l .); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) test -race -shuffle=on -timeout 12m ./...
	@# The allocation proofs (testing.AllocsPerRun) are built out of race builds:
	@# the race detector allocates. They run here without it.
	$(GO) test -count=1 -run 'Alloc' ./...
	$(MAKE) --no-print-directory fuzz-smoke FUZZTIME=200x
	$(MAKE) --no-print-directory bench-smoke

lint:
	$(GO) run $(STATICCHECK) ./...

# The admin page's browser test (cmd/sluice TestAdminBrowser) drives Debian's
# chromium; installed once, only when missing.
.PHONY: chromium
chromium:
	@test -x /usr/bin/chromium || { apt-get update && apt-get install -y --no-install-recommends chromium; }

# The fleet tests (fleet/, cmd/sluice TestFleet*) run Debian's etcd on
# 127.0.0.1 themselves; installed once, only when missing, without starting
# the package's service (policy-rc.d, as benchmarks/install.sh does).
ETCD := /usr/bin/etcd
.PHONY: etcd
etcd:
	@test -x $(ETCD) || { \
		own=; [ -e /usr/sbin/policy-rc.d ] || { printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; own=1; }; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends etcd-server; rc=$$?; \
		[ -z "$$own" ] || rm -f /usr/sbin/policy-rc.d; exit $$rc; }

# The FastCGI and AJP tests (cmd/sluice TestFastCGI*, TestAJP*) run Debian's
# php-fpm and tomcat10 and compare sluice's requests with Debian's apache2
# (mod_proxy_fcgi, mod_proxy_ajp), which benchmarks/install.sh installs with
# the benchmark peers; the application servers are installed once, only when
# missing, their services kept down.
APP_SERVERS := /usr/sbin/php-fpm*:php-fpm /usr/share/tomcat10/bin/catalina.sh:tomcat10
.PHONY: app-servers
app-servers:
	@sh benchmarks/install.sh
	@for pair in $(APP_SERVERS); do \
		ls $${pair%%:*} >/dev/null 2>&1 && continue; \
		own=; [ -e /usr/sbin/policy-rc.d ] || { printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; own=1; }; \
		{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $${pair#*:}; }; rc=$$?; \
		[ -z "$$own" ] || rm -f /usr/sbin/policy-rc.d; [ $$rc = 0 ] || exit $$rc; \
	done

# Runs every Fuzz target in FUZZ_PKGS for FUZZTIME each.
FUZZ_PKGS ?= ./fuzz ./admin ./headers ./hcheck ./pool ./logformat ./fastcgi ./ajp
fuzz-smoke:
	@set -e; for pkg in $(FUZZ_PKGS); do \
		targets=$$($(GO) test $$pkg -list 'Fuzz.*' | grep '^Fuzz' || true); \
		if [ -z "$$targets" ]; then echo "no fuzz targets in $$pkg"; exit 1; fi; \
		for t in $$targets; do \
			echo "== $$pkg $$t"; \
			$(GO) test $$pkg -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME); \
		done; \
	done

# Go micro-benchmarks, then the load comparison with nginx, HAProxy and Apache
# (docs/benchmarks.md; pass flags with BENCH_ARGS="-scenario get-1k -reps 3").
bench:
	$(GO) test -run '^$$' -bench . -benchmem $(BENCH_PKGS)
	sh benchmarks/install.sh
	$(GO) run ./benchmarks $(BENCH_ARGS)

# Profile-guided optimisation: go build uses cmd/sluice/default.pgo, CPU
# profiles of sluice under the harness's load (docs/benchmarks.md). Refresh it
# after changes to the request path; it takes about two minutes.
# The new profile is written beside the old one and renamed over it only when
# pprof succeeds: a failure leaves the old one whole.
pgo:
	sh benchmarks/install.sh
	dir=$$(mktemp -d) && trap 'rm -rf "$$dir" cmd/sluice/default.pgo.tmp' EXIT && \
	for sc in get-100b get-page get-browser post-1k new-conn get-64k; do \
		$(GO) run ./benchmarks -scenario $$sc -profile -reps 1 -duration 15s -peers sluice -out $$dir >/dev/null || exit 1; \
	done && \
	$(GO) tool pprof -proto $$dir/*.cpu.pprof > cmd/sluice/default.pgo.tmp && \
	mv cmd/sluice/default.pgo.tmp cmd/sluice/default.pgo

# Every scenario against every peer for about a second: fails on errors or
# non-2xx answers, never on timing.
.PHONY: bench-smoke
bench-smoke:
	sh benchmarks/install.sh
	$(GO) run ./benchmarks -smoke

# The long soak (threats.md §7): five minutes of mixed load while members are
# killed every 20 s and the config reloaded every 10 s. make test runs 30 s.
soak:
	SOAK_DURATION=$${SOAK_DURATION:-5m} $(GO) test -count=1 -timeout 15m -run '^TestSoak$$' -v ./cmd/sluice

clean:
	rm -rf $(BIN)
	$(GO) clean -testcache

# renewd — build, test, demo, install.
GO      ?= go
PREFIX  ?= /usr/local
DESTDIR ?=
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

# Packages with goroutines, locks or shared state: run under the race detector.
RACE_PKGS := ./internal/...

.PHONY: all build test unit e2e lint deps demo demo-cluster bench clean

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/renewd ./cmd/renewd

# The whole suite: formatting and vet, unit tests under -race, then the
# end-to-end tests against Pebble, challtestsrv and a real nginx.
test: deps lint
	$(GO) test -race -count=1 $(RACE_PKGS)
	$(GO) test -count=1 -timeout 20m ./cmd/... ./test/...

unit:
	$(GO) test -short -race -count=1 ./...

e2e: deps
	$(GO) test -count=1 -timeout 20m -v ./test/...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt -l lists:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# System packages the tests and the demo need (Debian). Installs only what
# is missing; needs root or sudo for that.
deps:
	@scripts/deps.sh

demo: deps
	@scripts/demo.sh

# Three renewd nodes sharing certificates through a real etcd cluster.
demo-cluster: deps
	@scripts/demo-cluster.sh

# Benchmarks (not part of test): renewd before and after, next to lego's
# CLI and certbot, against one Pebble: renew-all, 1,000 at a paced rate, a
# storm of 429s, the idle daemon, storage at 10,000 certificates, a
# renewal of 100 on a three-node cluster, build times; rewrites
# docs/benchmarks.md and docs/benchmarks.json (docs/performance.md says
# what each part measures; BENCH_ARGS="-only cluster" runs one part and
# merges it into the JSON).
#   make bench [BENCH_N="10 100"] [BENCH_ARGS="-scale 5000 -build=false"] [BENCH_BEFORE=ref]
BENCH_N      ?= 10 100
BENCH_ARGS   ?=
BENCH_BEFORE ?= 80a918b
bench: deps
	@GO='$(GO)' BENCH_N='$(BENCH_N)' BENCH_ARGS='$(BENCH_ARGS)' BENCH_BEFORE='$(BENCH_BEFORE)' scripts/bench.sh

clean:
	rm -rf bin .demo .demo-cluster

# Install the binary, the systemd unit and example configuration:
#   make install [PREFIX=/usr/local] [DESTDIR=]
# Configuration is never overwritten: an existing /etc/renewd/renewd.yaml or
# /etc/renewd/env is kept and the new version lands next to it as *.example.
# The certificate examples always land as domains.d/*.yaml.example, which
# renewd does not load: an active example would order certificates for
# example.com. The unit is replaced on every install (customise it with
# `systemctl edit renewd`), its ExecStart pointed at $(PREFIX)/bin/renewd.
# install builds first; `make build && sudo make install NOBUILD=1` installs
# what you built as yourself (root's PATH often has no go).
UNITDIR := /etc/systemd/system
CONFDIR := /etc/renewd

.PHONY: install uninstall

# install_conf SRC DEST MODE: install SRC as DEST, or as DEST.example when
# DEST exists.
define install_conf
	@if [ -e "$(2)" ]; then \
	  install -m $(3) "$(1)" "$(2).example" && \
	  echo "kept $(2); the new version is $(2).example"; \
	else \
	  install -m $(3) "$(1)" "$(2)" && echo "installed $(2)"; \
	fi
endef

install: $(if $(NOBUILD),,build)
	@test -x bin/renewd || { echo "bin/renewd is missing: run make build first"; exit 1; }
	install -d -m 0755 "$(DESTDIR)$(PREFIX)/bin" "$(DESTDIR)$(UNITDIR)" \
	  "$(DESTDIR)$(CONFDIR)" "$(DESTDIR)$(CONFDIR)/domains.d"
	install -m 0755 bin/renewd "$(DESTDIR)$(PREFIX)/bin/renewd"
	sed 's|^ExecStart=/usr/local/bin/renewd |ExecStart=$(PREFIX)/bin/renewd |' \
	  deploy/systemd/renewd.service > "$(DESTDIR)$(UNITDIR)/renewd.service.tmp"
	chmod 0644 "$(DESTDIR)$(UNITDIR)/renewd.service.tmp"
	mv -f "$(DESTDIR)$(UNITDIR)/renewd.service.tmp" "$(DESTDIR)$(UNITDIR)/renewd.service"
	$(call install_conf,configs/renewd.yaml,$(DESTDIR)$(CONFDIR)/renewd.yaml,0644)
	$(call install_conf,deploy/systemd/env.example,$(DESTDIR)$(CONFDIR)/env,0600)
	@for f in configs/domains.d/*.yaml; do \
	  install -m 0644 "$$f" "$(DESTDIR)$(CONFDIR)/domains.d/$${f##*/}.example" || exit 1; \
	done; echo "installed examples in $(DESTDIR)$(CONFDIR)/domains.d/*.yaml.example"
	@echo "next: edit $(CONFDIR)/renewd.yaml, $(CONFDIR)/env and $(CONFDIR)/domains.d/NAME.yaml,"
	@echo "      then: systemctl daemon-reload && systemctl enable --now renewd"

# Removes the binary and the unit only; configuration in $(CONFDIR) and
# certificates in /var/lib/renewd stay. Stop it first:
# systemctl disable --now renewd.
uninstall:
	rm -f "$(DESTDIR)$(PREFIX)/bin/renewd" "$(DESTDIR)$(UNITDIR)/renewd.service"
	@echo "kept $(DESTDIR)$(CONFDIR) and /var/lib/renewd; run systemctl daemon-reload"

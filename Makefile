# renewd — build, test, demo, install.
GO      ?= go
PREFIX  ?= /usr/local
DESTDIR ?=
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

# Packages with goroutines, locks or shared state: run under the race detector.
RACE_PKGS := ./internal/store/... ./internal/renew/... ./internal/acme/... ./internal/chain/... ./internal/config/...

.PHONY: all build test unit e2e lint deps demo bench clean

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

clean:
	rm -rf bin .demo

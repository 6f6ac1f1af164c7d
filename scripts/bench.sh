#!/usr/bin/env bash
# `make bench`: measures renewd next to lego's CLI, certbot and renewd as
# it was before (BENCH_BEFORE), in one run on this machine, and rewrites
# docs/benchmarks.md and docs/benchmarks.json. Not part of `make test`.
#
# Installs certbot from Debian's packages when it is missing, builds
# renewd, renewd-before (from the git ref BENCH_BEFORE, exported with git
# archive into a temporary directory), lego (the version in go.mod),
# pebble, pebble-challtestsrv and etcdnode (etcd's server, for the cluster
# part) into a temporary directory, and runs the
# harness in test/bench (build tag bench). Knobs (environment, or make
# variables):
#   BENCH_N="10 100"    certificate counts for renew-all, default configuration
#   BENCH_ARGS=""       more harness flags, e.g. "-build=false -scale 5000";
#                       "-only cluster" runs that part alone and merges it
#                       into docs/benchmarks.json
#                       (go run -tags bench ./test/bench -h lists them)
#   BENCH_BEFORE=ref    the "before" renewd; default 80a918b, the last commit
#                       before the work on issues 17 and 13; empty: none
#   GO=go
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
BENCH_N=${BENCH_N:-10 100}
BENCH_ARGS=${BENCH_ARGS:-}
BENCH_BEFORE=${BENCH_BEFORE-80a918b}

if ! command -v certbot >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing certbot from Debian's packages"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq certbot >/dev/null
fi

bin=$(mktemp -d "${TMPDIR:-/tmp}/renewd-bench-bin.XXXXXX")
trap 'rm -rf "$bin"' EXIT
echo "building renewd, lego, pebble, pebble-challtestsrv, etcdnode and the harness into $bin"
version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
"$GO" build -ldflags "-s -w -X main.version=$version" -o "$bin/renewd" ./cmd/renewd
if [ -n "$BENCH_BEFORE" ]; then
  echo "building renewd-before from $BENCH_BEFORE"
  mkdir "$bin/before-src"
  git archive "$BENCH_BEFORE" | tar -x -C "$bin/before-src"
  (cd "$bin/before-src" && "$GO" build -ldflags "-s -w -X main.version=$BENCH_BEFORE" -o "$bin/renewd-before" ./cmd/renewd)
  rm -rf "$bin/before-src"
fi
"$GO" build -o "$bin/lego" github.com/go-acme/lego/v4/cmd/lego
"$GO" build -o "$bin/pebble" github.com/letsencrypt/pebble/v2/cmd/pebble
"$GO" build -o "$bin/pebble-challtestsrv" github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv
"$GO" build -o "$bin/etcdnode" ./test/cluster/etcdnode
"$GO" build -tags bench -o "$bin/bench" ./test/bench

# shellcheck disable=SC2086 # BENCH_ARGS is a list of flags
"$bin/bench" -bin "$bin" -root . -n "$BENCH_N" \
  -md docs/benchmarks.md -json docs/benchmarks.json $BENCH_ARGS

#!/usr/bin/env bash
# Checks `make install` and `make uninstall` as a user runs them, into a
# scratch DESTDIR: what lands where with which mode, the unit's ExecStart
# following PREFIX, that a second install keeps a changed configuration
# (new versions go to *.example), that uninstall removes only the binary and
# the unit, and that `systemd-analyze verify` accepts the installed unit.
#
#   scripts/test-install.sh [DESTDIR]     (default: a new temporary directory)
#
# test/e2e/systemd_test.go runs it, so `make test` covers it. Set NOBUILD=1
# to install the existing bin/renewd instead of building it.
set -euo pipefail
cd "$(dirname "$0")/.."
# A parent make (make test) must not pass its variables or jobserver down.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES

dest=${1:-}
if [ -z "$dest" ]; then
  dest=$(mktemp -d)
  trap 'rm -rf "$dest"' EXIT
fi
prefix=/opt/renewd
bin=$dest$prefix/bin/renewd
unit=$dest/etc/systemd/system/renewd.service
conf=$dest/etc/renewd

fail() { echo "test-install: FAIL: $*" >&2; exit 1; }
mode() { stat -c %a "$1"; }
want_mode() { [ "$(mode "$1")" = "$2" ] || fail "$1 has mode $(mode "$1"), want $2"; }
want_same() { cmp -s "$1" "$2" || fail "$1 differs from $2"; }
install_once() {
  make --no-print-directory install DESTDIR="$dest" PREFIX="$prefix" ${NOBUILD:+NOBUILD=1} >"$dest/.make.out" 2>&1 ||
    { cat "$dest/.make.out" >&2; fail "make install failed"; }
  out=$(cat "$dest/.make.out"); rm -f "$dest/.make.out"
}

# 1. A fresh install.
install_once
[ -x "$bin" ] || fail "$bin is missing or not executable"
want_mode "$bin" 755
"$bin" version >/dev/null || fail "$bin version failed"
want_mode "$unit" 644
grep -qx "ExecStart=$prefix/bin/renewd --config /etc/renewd/renewd.yaml run" "$unit" ||
  fail "ExecStart in $unit does not follow PREFIX=$prefix: $(grep ^ExecStart= "$unit")"
[ "$(grep -v '^ExecStart=' "$unit")" = "$(grep -v '^ExecStart=' deploy/systemd/renewd.service)" ] ||
  fail "$unit differs from deploy/systemd/renewd.service beyond ExecStart"
want_same "$conf/renewd.yaml" configs/renewd.yaml
want_mode "$conf/renewd.yaml" 644
want_same "$conf/env" deploy/systemd/env.example
want_mode "$conf/env" 600
for f in configs/domains.d/*.yaml; do
  want_same "$conf/domains.d/${f##*/}.example" "$f"
done
active=$(find "$conf/domains.d" -name '*.yaml' -o -name '*.yml')
[ -z "$active" ] || fail "an example certificate would be active: $active"
[ ! -e "$conf/renewd.yaml.example" ] || fail "renewd.yaml.example on a fresh install"

# 2. The administrator configures it; a second install (an upgrade) keeps it.
echo "# changed by the administrator" >>"$conf/renewd.yaml"
printf 'ALICLOUD_ACCESS_KEY=secret-id\nALICLOUD_SECRET_KEY=secret\n' >>"$conf/env"
printf 'domains: [mine.example.org]\nchallenge: {type: http-01, http01: {listen: "127.0.0.1:8402"}}\n' >"$conf/domains.d/mine.yaml"
cp -p "$conf/renewd.yaml" "$dest/renewd.yaml.mine"
cp -p "$conf/env" "$dest/env.mine"
cp -p "$conf/domains.d/mine.yaml" "$dest/mine.yaml.mine"
install_once
want_same "$conf/renewd.yaml" "$dest/renewd.yaml.mine"
want_same "$conf/env" "$dest/env.mine"
want_mode "$conf/env" 600
want_same "$conf/domains.d/mine.yaml" "$dest/mine.yaml.mine"
want_same "$conf/renewd.yaml.example" configs/renewd.yaml
want_same "$conf/env.example" deploy/systemd/env.example
want_mode "$conf/env.example" 600
grep -q "kept $conf/renewd.yaml" <<<"$out" || fail "second install did not say it kept renewd.yaml: $out"
grep -q "kept $conf/env" <<<"$out" || fail "second install did not say it kept env: $out"

# 3. systemd's own check of the installed unit. verify looks for ExecStart's
# binary on this machine, so point a copy at the one under DESTDIR; any
# message (an unknown key is only a warning) fails the test.
if ! command -v systemd-analyze >/dev/null; then
  fail "systemd-analyze not found: install Debian's systemd package (apt-get install systemd)"
fi
mkdir -p "$dest/verify"
sed "s|^ExecStart=$prefix/|ExecStart=$dest$prefix/|" "$unit" >"$dest/verify/renewd.service"
msgs=$(cd "$dest/verify" && systemd-analyze verify --man=no ./renewd.service 2>&1) ||
  fail "systemd-analyze verify: $msgs"
[ -z "$msgs" ] || fail "systemd-analyze verify: $msgs"

# 4. Uninstall removes the binary and the unit, nothing else.
make --no-print-directory uninstall DESTDIR="$dest" PREFIX="$prefix" >/dev/null
[ ! -e "$bin" ] || fail "uninstall left $bin"
[ ! -e "$unit" ] || fail "uninstall left $unit"
want_same "$conf/renewd.yaml" "$dest/renewd.yaml.mine"
want_same "$conf/env" "$dest/env.mine"
want_same "$conf/domains.d/mine.yaml" "$dest/mine.yaml.mine"
echo "test-install: ok ($dest)"

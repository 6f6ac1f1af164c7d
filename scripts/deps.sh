#!/usr/bin/env bash
# Installs the Debian packages renewd's tests and demo use, when missing:
# nginx (a real one: the e2e tests and the demo run it on high ports),
# openssl (to show and verify chains as an operator would) and curl (the
# demo's and tests' DNS-01 exec script talks to challtestsrv with it),
# systemd (systemd-analyze verifies the unit file), certbot (the takeover
# tests import what Debian's real certbot made against Pebble), and the TLS clients
# test/clients holds `renewd check` to: gnutls-cli (gnutls-bin), Python's
# ssl (Debian's python3, built against Debian's OpenSSL) and Java 17 with
# its compiler (openjdk-17-jdk-headless: the test runs a one-file Java
# client, which needs the JDK's jdk.compiler module; the JRE has none) and
# keytool.
set -euo pipefail
need=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v curl >/dev/null 2>&1 || need+=(curl)
# systemd-analyze checks the unit file in the install test.
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v certbot >/dev/null 2>&1 || [ -x /usr/bin/certbot ] || need+=(certbot)
command -v gnutls-cli >/dev/null 2>&1 || need+=(gnutls-bin)
[ -x /usr/bin/python3 ] || need+=(python3)
java17_jdk() {
  for j in ${JAVA_HOME:+"$JAVA_HOME"} /usr/lib/jvm/java-17-openjdk-*; do
    [ -x "$j/bin/javac" ] && [ -x "$j/bin/keytool" ] && "$j/bin/java" -version 2>&1 | grep -q 'version "17' && return 0
  done
  return 1
}
java17_jdk || need+=(openjdk-17-jdk-headless)
[ ${#need[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing ${need[*]} from Debian's packages"
$sudo apt-get update -qq
# nginx-light is enough; fall back to nginx where a release lacks it.
if ! DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null; then
  need=("${need[@]/nginx-light/nginx}")
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
# Debian starts the packaged nginx on :80; renewd's tests run their own.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet nginx 2>/dev/null; then
  $sudo systemctl stop nginx || true
fi

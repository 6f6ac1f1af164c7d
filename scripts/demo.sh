#!/usr/bin/env bash
# make demo: a local CA (Pebble), a canary and a wildcard certificate issued
# by renewd (HTTP-01 through nginx's webroot, DNS-01 through lego's exec
# provider), served by a real nginx, and the served chain verified the way a
# strict client (curl, Android, WeChat) would. Everything runs on loopback,
# in .demo/, and is stopped and removed at the end (KEEP_DEMO=1 keeps it).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
D=$ROOT/.demo
PEBBLE=${DEMO_PEBBLE_PORT:-14000} PEBBLE_MGMT=${DEMO_PEBBLE_MGMT_PORT:-15000}
HTTP01=${DEMO_HTTP_PORT:-5002} DNS=${DEMO_DNS_PORT:-8053} CHALL=${DEMO_CHALL_PORT:-8055} HTTPS=${DEMO_HTTPS_PORT:-8443}
METRICS=${DEMO_METRICS_PORT:-9402}
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

# shellcheck source=scripts/lib.sh
. scripts/lib.sh
pids=()
cleanup() {
  [ -f "$D/nginx/nginx.pid" ] && "$NGINX" -p "$D/nginx" -c "$D/nginx/nginx.conf" -s quit 2>/dev/null || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "${KEEP_DEMO:-}" = 1 ]; then echo "kept $D"; else rm -rf "$D"; fi
}
trap cleanup EXIT
for port in $PEBBLE $PEBBLE_MGMT $HTTP01 $DNS $CHALL $HTTPS $METRICS; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "port $port is in use; set DEMO_*_PORT (see scripts/demo.sh) to free ones" >&2; exit 1
  fi
done
rm -rf "$D"; mkdir -p "$D"/{bin,etc/domains.d,webroot,elsewhere,nginx/tmp,storage}

bold "Build renewd; the pinned Pebble and challtestsrv come from go.mod via go tool"
go build -o "$D/bin/renewd" ./cmd/renewd
"$D/bin/renewd" version

bold "Start a local ACME CA: Pebble on :$PEBBLE, challtestsrv DNS on :$DNS"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=renewd demo TLS CA" \
  -keyout "$D/tls-ca.key" -out "$D/tls-ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" -keyout "$D/pebble.key" -out "$D/pebble.csr" 2>/dev/null
openssl x509 -req -in "$D/pebble.csr" -CA "$D/tls-ca.pem" -CAkey "$D/tls-ca.key" -CAcreateserial -days 1 \
  -extfile <(printf 'subjectAltName=DNS:localhost,IP:127.0.0.1') -out "$D/pebble.pem" 2>/dev/null
start_ca "$D/tls-ca.pem" "$D/pebble.pem" "$D/pebble.key" "$PEBBLE" "$PEBBLE_MGMT" "$HTTP01" 5001 "$DNS" "$CHALL" 127.0.0.1
echo "Pebble root: $(openssl x509 -in "$D/pebble-root.pem" -noout -subject)"

bold "Start nginx: ACME challenges on :$HTTP01 (webroot), HTTPS on :$HTTPS with placeholder certificates"
user=""; [ "$(id -u)" -eq 0 ] && user="user root;"
SSL=$D/nginx/ssl
for n in canary wildcard; do
  mkdir -p "$SSL/$n"
  # What a fresh server has before its first real certificate (Debian's snakeoil).
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=placeholder" \
    -keyout "$SSL/$n/privkey.pem" -out "$SSL/$n/fullchain.pem" 2>/dev/null
done
cat > "$D/nginx/nginx.conf" <<CONF
$user
worker_processes 1;
pid $D/nginx/nginx.pid;
error_log $D/nginx/error.log;
events { worker_connections 64; }
http {
  access_log off;
  ssl_protocols TLSv1.2 TLSv1.3;   # what WeChat, iOS and Android need; nothing older
  client_body_temp_path $D/nginx/tmp/body; proxy_temp_path $D/nginx/tmp/proxy;
  fastcgi_temp_path $D/nginx/tmp/fcgi; uwsgi_temp_path $D/nginx/tmp/uwsgi; scgi_temp_path $D/nginx/tmp/scgi;
  server { listen 127.0.0.1:$HTTP01;
    location /.well-known/acme-challenge/ { root $D/webroot; default_type text/plain; } }
  server { listen 127.0.0.1:$HTTPS ssl; server_name canary.demo.example.com;
    ssl_certificate $SSL/canary/fullchain.pem; ssl_certificate_key $SSL/canary/privkey.pem; return 200 "canary\n"; }
  server { listen 127.0.0.1:$HTTPS ssl; server_name *.demo.example.com demo.example.com;
    ssl_certificate $SSL/wildcard/fullchain.pem; ssl_certificate_key $SSL/wildcard/privkey.pem; return 200 "wildcard\n"; }
}
CONF
"$NGINX" -p "$D/nginx" -c "$D/nginx/nginx.conf"
wait_port 127.0.0.1 "$HTTP01"; wait_port 127.0.0.1 "$HTTPS"

bold "Configure renewd: one YAML file per certificate"
cat > "$D/dns-exec.sh" <<SH
#!/bin/sh
# lego exec provider: "present|cleanup FQDN VALUE" -> challtestsrv's API.
case "\$1" in
  present) curl -sf -X POST -d "{\"host\":\"\$2\",\"value\":\"\$3\"}" http://127.0.0.1:$CHALL/set-txt ;;
  cleanup) curl -sf -X POST -d "{\"host\":\"\$2\"}" http://127.0.0.1:$CHALL/clear-txt ;;
esac
SH
chmod +x "$D/dns-exec.sh"
cat > "$D/etc/renewd.yaml" <<YAML
storage: $D/storage
acme:
  directory: https://127.0.0.1:$PEBBLE/dir
  staging_directory: https://127.0.0.1:$PEBBLE/dir   # for renew --dry-run; a real CA has its own
  email: demo@example.com
  ca_certificates: [$D/tls-ca.pem]   # Pebble's HTTPS endpoint
trust:
  extra_roots: [$D/pebble-root.pem]  # chains must verify to Pebble's root
nginx:                               # argv lists, no shell
  test: [$NGINX, -p, $D/nginx, -c, $D/nginx/nginx.conf, -t]
  reload: [$NGINX, -p, $D/nginx, -c, $D/nginx/nginx.conf, -s, reload]
  verify: {address: "127.0.0.1:$HTTPS"}
metrics: {listen: "127.0.0.1:$METRICS"}   # Prometheus metrics from renewd run
YAML
cat > "$D/etc/domains.d/canary.yaml" <<YAML
domains: [canary.demo.example.com]
canary: true                      # renewed first; holds the others if it fails
challenge:
  type: http-01
  http01: {webroot: $D/webroot}
deploy:
  fullchain: $SSL/canary/fullchain.pem
  key: $SSL/canary/privkey.pem
  nginx: true
YAML
cat > "$D/etc/domains.d/wildcard.yaml" <<YAML
domains: ["*.demo.example.com", demo.example.com]
challenge:
  type: dns-01
  dns01:
    provider: exec                # any lego DNS provider: alidns, tencentcloud, ...
    env: {EXEC_PATH: $D/dns-exec.sh, EXEC_POLLING_INTERVAL: "1", EXEC_SEQUENCE_INTERVAL: "1"}
    resolvers: ["127.0.0.1:$DNS"]
deploy:
  fullchain: $SSL/wildcard/fullchain.pem
  key: $SSL/wildcard/privkey.pem
  nginx: true
YAML
R() { echo "\$ renewd $*"; "$D/bin/renewd" --config "$D/etc/renewd.yaml" "$@"; }
echo "\$ renewd config check"; "$D/bin/renewd" --config "$D/etc/renewd.yaml" config check | sed -n 1p

bold "Renew now: the canary is issued, deployed and verified first, then the wildcard"
R renew --now

bold "renewd status"
R status

bold "The stored fullchain is complete: openssl verify with the Pebble root"
for n in canary wildcard; do
  live=$D/storage/live/$n
  echo "$n: $(grep -c 'BEGIN CERTIFICATE' "$live/fullchain.pem") certificates in fullchain.pem; $(openssl verify -CAfile "$D/pebble-root.pem" -untrusted "$live/chain.pem" "$live/cert.pem")"
done

bold "renewd check: the served chain judged the way WeChat, Android and curl judge it"
R check canary
echo "\$ renewd check wildcard | tail -1"
"$D/bin/renewd" --config "$D/etc/renewd.yaml" check wildcard | tail -1

bold "The served chain, verified as a strict client sees it (only what nginx sends + the root)"
for host in canary.demo.example.com shop.demo.example.com; do
  for _ in $(seq 50); do out=$(openssl s_client -connect "127.0.0.1:$HTTPS" -servername "$host" -CAfile "$D/pebble-root.pem" \
    -verify_return_error -verify_hostname "$host" -showcerts </dev/null 2>&1) && break; sleep 0.1; done
  echo "$host:"
  echo "$out" | grep -E '^ *[0-9]+ s:|^ +i:' | sed 's/^/  /'
  echo "  $(echo "$out" | grep -m1 'Verify return code')"
  echo "$out" | grep -q 'Verify return code: 0 (ok)' || { echo "served chain did not verify" >&2; exit 1; }
done
curl -s --cacert "$D/pebble-root.pem" --resolve "shop.demo.example.com:$HTTPS:127.0.0.1" "https://shop.demo.example.com:$HTTPS/"

bold "A dry run: order and check everything, store and deploy nothing"
R renew --dry-run

bold "A broken canary holds the rest: its webroot is one nginx does not serve"
canary_ok=$(cat "$D/etc/domains.d/canary.yaml")
sed -i "s|webroot: $D/webroot|webroot: $D/elsewhere|" "$D/etc/domains.d/canary.yaml"
before=$(openssl x509 -in "$D/storage/live/wildcard/cert.pem" -noout -serial)
echo "(the failed line is on stderr: the cause, once, on one line, with a hint)"
R renew --now || echo "(exit $?: the canary failed, so the wildcard was not attempted)"
R status

bold "Reading the failure: renewd status canary"
R status canary
after=$(openssl x509 -in "$D/storage/live/wildcard/cert.pem" -noout -serial)
[ "$before" = "$after" ] && echo "the wildcard is untouched: still $after"

bold "Fixed: the canary renews, then the wildcard; retry_count is back to 0"
printf '%s\n' "$canary_ok" > "$D/etc/domains.d/canary.yaml"
R renew --now
R status

bold "The daemon: renewd run on its schedule, with Prometheus metrics on :$METRICS"
"$D/bin/renewd" --config "$D/etc/renewd.yaml" run >"$D/daemon.log" 2>&1 & daemon=$!; pids+=($daemon)
for _ in $(seq 100); do grep -q 'renewal pass done' "$D/daemon.log" && break; sleep 0.1; done
grep -m1 'renewal pass done' "$D/daemon.log" || { cat "$D/daemon.log"; exit 1; }
echo "\$ curl -s http://127.0.0.1:$METRICS/metrics | grep ..."
curl -sf "http://127.0.0.1:$METRICS/metrics" | grep -E '^renewd_(certificate_(not_after_timestamp_seconds|retries|served_chain_complete)|canary_failing|renewal_attempts_total\{.*result="failed"|runs_total)' || true
kill -TERM "$daemon"; wait "$daemon" && echo "renewd run stopped cleanly on SIGTERM"

bold "Done: stopping Pebble, challtestsrv and nginx and removing .demo/"

# Shared by scripts/demo.sh and scripts/demo-cluster.sh (sourced, not run):
# headings, waiting for a port, and starting the local ACME CA (Pebble and
# pebble-challtestsrv, the versions pinned in go.mod). The caller sets D
# (its work directory) and the array pids (processes to stop at the end).

bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# wait_port HOST PORT: until something accepts connections there (20 s).
wait_port() {
  for _ in $(seq 200); do (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0; sleep 0.1; done
  echo "nothing listens on $1:$2" >&2; exit 1
}

# start_ca TLS_CA CERT KEY PEBBLE PEBBLE_MGMT HTTP01 TLSALPN DNS CHALL IPV4:
# Pebble on 127.0.0.1:PEBBLE (TLS with CERT and KEY, which TLS_CA issued;
# 90-day certificates, HTTP-01
# checked on port HTTP01, authorizations never reused), resolving names
# through challtestsrv's DNS on DNS, which answers IPV4 for every name.
# Writes Pebble's root to $D/pebble-root.pem.
start_ca() {
  local tlsca=$1 cert=$2 key=$3 pebble=$4 mgmt=$5 http01=$6 tlsalpn=$7 dns=$8 chall=$9 ipv4=${10}
  cat > "$D/pebble.json" <<JSON
{"pebble": {"listenAddress": "127.0.0.1:$pebble", "managementListenAddress": "127.0.0.1:$mgmt",
  "certificate": "$cert", "privateKey": "$key", "httpPort": $http01, "tlsPort": $tlsalpn,
  "ocspResponderURL": "", "externalAccountBindingRequired": false, "retryAfter": {"authz": 1, "order": 1},
  "profiles": {"default": {"description": "90 days", "validityPeriod": 7776000}}}}
JSON
  "$(go tool -n pebble-challtestsrv)" -dnsserver "127.0.0.1:$dns" -management "127.0.0.1:$chall" -http01 "" -https01 "" -tlsalpn01 "" -doh "" \
    -defaultIPv4 "$ipv4" -defaultIPv6 "" >"$D/challtestsrv.log" 2>&1 & pids+=($!)
  PEBBLE_VA_NOSLEEP=1 PEBBLE_AUTHZREUSE=0 "$(go tool -n pebble)" -config "$D/pebble.json" -dnsserver "127.0.0.1:$dns" >"$D/pebble.log" 2>&1 & pids+=($!)
  wait_port 127.0.0.1 "$mgmt"; wait_port 127.0.0.1 "$chall"
  curl -sf --cacert "$tlsca" "https://127.0.0.1:$mgmt/roots/0" >"$D/pebble-root.pem"
}

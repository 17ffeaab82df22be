#!/usr/bin/env bash
# Issue 11's own measurement of the incoming-call webhook, with wrk (apt-get install wrk): the
# service's bare GET /healthz, a bare axum handler with one SQLite insert per request (the
# naive_insert example), and the service's incoming-call webhook, a new call each request, in
# that order, on the same connections. The service runs in demo mode (wrk cannot sign), with a
# fresh SQLite file (or DATABASE_URL: a scratch database); everything shares the machine's cores
# with wrk.
#
#   cargo build --release --bin atiende --example naive_insert
#   bench/incoming-wrk.sh [SECONDS] [CONNECTIONS]
set -euo pipefail
seconds=${1:-10}
connections=${2:-50}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${ATIENDE_BIN:-$root/target/release/atiende}
naive=${ATIENDE_NAIVE_BIN:-$(dirname "$bin")/examples/naive_insert}
port=${ATIENDE_BENCH_PORT:-18080}
dir=$(mktemp -d)
env -u TWILIO_AUTH_TOKEN -u TWILIO_ACCOUNT_SID -u TWILIO_PHONE_NUMBER \
  ATIENDE_LISTEN=127.0.0.1:$port ATIENDE_DATA_DIR=$dir/data ATIENDE_PROMPTS_DIR=$root/prompts \
  DATABASE_URL=${DATABASE_URL:-sqlite://$dir/atiende.db} ATIENDE_LOG=warn "$bin" serve >"$dir/serve.log" 2>&1 &
pid=$!
"$naive" "127.0.0.1:$((port + 8))" "$dir/naive.db" >"$dir/naive.log" 2>&1 &
naive_pid=$!
trap 'kill $pid $naive_pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 &&
    curl -fs "http://127.0.0.1:$((port + 8))/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
# Requests/s; a run with any answer but 200 (or a socket error) stops the script.
rate() {
  local out
  out=$(wrk -t2 -c"$connections" -d"${seconds}s" "$@")
  if grep -qE "Non-2xx|Socket errors|^failed [1-9]" <<<"$out"; then
    echo "errors in: wrk $*" >&2
    echo "$out" >&2
    exit 1
  fi
  awk '/Requests\/sec/ {print $2}' <<<"$out"
}
healthz=$(rate "http://127.0.0.1:$port/healthz")
naive_rate=$(rate -s "$root/bench/incoming.lua" "http://127.0.0.1:$((port + 8))")
incoming=$(rate -s "$root/bench/incoming.lua" "http://127.0.0.1:$port")
awk -v h="$healthz" -v n="$naive_rate" -v i="$incoming" -v c="$connections" 'BEGIN {
  printf "/healthz                          %8.0f/s on %d connections\n", h, c
  printf "one-insert handler, incoming      %8.0f/s = %.3f of /healthz\n", n, n / h
  printf "atiende incoming-call webhook     %8.0f/s = %.3f of /healthz, %.2f times the one-insert handler\n", i, i / h, i / n }'

#!/usr/bin/env bash
# The whole report path with the load generator in a process of its own, as the README's
# figures are taken: `atiende serve` in one process, `atiende bench --url` in another, which
# also plays Twilio's REST API (--twilio-api) so every recording is downloaded and stored and
# every folio SMS sent and counted. Prints the bench's report, then the service's memory:
# resident once started and idle, and its peak (VmHWM) over the run.
#
#   bench/report-path.sh [CALLS] [CONCURRENCY] [PAUSE_MS] [-- more bench options]
#   DATABASE_URL=postgres://... bench/report-path.sh 10000 200   # a scratch database
#
# Uses ./target/release/atiende (cargo build --release first). If the one-insert baseline is
# built too (cargo build --release --example naive_insert), it is started beside the service and
# measured on the same connections (--baseline), so the incoming webhook is compared with it.
set -euo pipefail
calls=${1:-10000}
concurrency=${2:-200}
pause=${3:-0}
shift $(( $# < 3 ? $# : 3 ))
[ "${1:-}" = "--" ] && shift
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${ATIENDE_BIN:-$root/target/release/atiende}
naive=${ATIENDE_NAIVE_BIN:-$(dirname "$bin")/examples/naive_insert}
dir=$(mktemp -d)
port=${ATIENDE_BENCH_PORT:-18080}
api_port=$((port + 9))
export TWILIO_AUTH_TOKEN=bench-auth-token-0123456789abcdef
export TWILIO_ACCOUNT_SID=AC0be0c0000000000000000000000000b0
export TWILIO_PHONE_NUMBER=+525500000000
export ATIENDE_PUBLIC_URL=http://127.0.0.1:$port
ATIENDE_LISTEN=127.0.0.1:$port ATIENDE_DATA_DIR=$dir/data ATIENDE_PROMPTS_DIR=$root/prompts \
  TWILIO_API_BASE=http://127.0.0.1:$api_port DATABASE_URL=${DATABASE_URL:-sqlite://$dir/atiende.db} \
  ATIENDE_LOG=warn "$bin" serve >"$dir/serve.log" 2>&1 &
pid=$!
baseline=()
naive_pid=
if [ -x "$naive" ]; then
  "$naive" "127.0.0.1:$((port + 8))" "$dir/naive.db" >"$dir/naive.log" 2>&1 &
  naive_pid=$!
  baseline=(--baseline "http://127.0.0.1:$((port + 8))")
fi
trap 'kill $pid $naive_pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
sleep 1
idle=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
status=0
"$bin" bench --url "http://127.0.0.1:$port" --twilio-api "127.0.0.1:$api_port" \
  --calls "$calls" --concurrency "$concurrency" --pause-ms "$pause" "${baseline[@]}" "$@" || status=$?
peak=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
files=$(awk '/Max open files/ {print $4}' /proc/$pid/limits)
echo "service    open-files limit $files (soft, raised at start to the hard limit)"
awk -v idle="$idle" -v peak="$peak" 'BEGIN {
  printf "service    %.1f MB resident when idle after start, %.1f MB peak (VmHWM) over the run\n",
    idle / 1024, peak / 1024 }'
exit $status

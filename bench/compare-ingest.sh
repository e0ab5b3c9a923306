#!/usr/bin/env bash
# bench/compare-ingest.sh — line-protocol ingestion: Arc vs InfluxDB 1.6 vs
# VictoriaMetrics (both from Debian), same load generator, same data, same
# machine, one run. Also Arc's MessagePack columnar path.
#
# Usage: bench/compare-ingest.sh [seconds=10] [connections=8] [batch=5000]
# Needs: build/arc and build/bench_ingest (cmake --build build), and
#        apt-get install influxdb victoria-metrics (installed if missing).
# Every server is started on 127.0.0.1 with a temporary data directory and
# stopped by PID at the end.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-10}
conns=${2:-8}
batch=${3:-5000}
bench="$root/build/bench_ingest"
arc="$root/build/arc"
work=$(mktemp -d /tmp/arc-compare-XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 1
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

if ! command -v influxd >/dev/null || ! command -v victoria-metrics >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q influxdb victoria-metrics >/dev/null
fi

wait_http() { # url
    for _ in $(seq 1 100); do
        curl -s -o /dev/null "$1" && return 0
        sleep 0.1
    done
    echo "server at $1 did not start" >&2
    return 1
}

run() { # label args...
    local label=$1
    shift
    echo "### $label"
    "$bench" --seconds "$secs" --connections "$conns" --batch "$batch" "$@"
    echo
}

echo "machine: $(nproc) cores, $(grep MemTotal /proc/meminfo | awk '{print int($2/1048576)}') GiB, $(. /etc/os-release; echo "$PRETTY_NAME"), $(date -u +%Y-%m-%d)"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

# --- Arc -----------------------------------------------------------------
mkdir -p "$work/arc"
(cd "$work/arc" && ARC_AUTH_ENABLED=false ARC_SERVER_HOST=127.0.0.1 ARC_SERVER_PORT=18100 \
    ARC_LOGGING_LEVEL=WARN ARC_INGESTION_MAX_TOTAL_BUFFER_MB=4096 \
    ARC_INGESTION_BUFFER_HARD_LIMIT=400000 exec "$arc" >"$work/arc.log" 2>&1) &
pids+=($!)
wait_http http://127.0.0.1:18100/health
run "arc line protocol" --port 18100 --path /api/v1/write/line-protocol
run "arc msgpack columnar" --port 18100 --path /api/v1/write/msgpack --format msgpack
curl -s http://127.0.0.1:18100/metrics | grep -E '^arc_(ingest_decode|flush_duration|http_latency)_seconds_(sum|count)' || true
echo

# --- InfluxDB 1.6 ----------------------------------------------------------
mkdir -p "$work/influx"
cat >"$work/influx/influxdb.conf" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:18188"
[meta]
  dir = "$work/influx/meta"
[data]
  dir = "$work/influx/data"
  wal-dir = "$work/influx/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:18186"
  log-enabled = false
[monitor]
  store-enabled = false
CONF
influxd -config "$work/influx/influxdb.conf" >"$work/influx.log" 2>&1 &
pids+=($!)
wait_http http://127.0.0.1:18186/ping
curl -s -XPOST http://127.0.0.1:18186/query --data-urlencode 'q=CREATE DATABASE bench' >/dev/null
run "influxdb 1.6 line protocol" --port 18186 --path "/write?db=bench"

# --- VictoriaMetrics ---------------------------------------------------------
victoria-metrics -storageDataPath="$work/vm" -httpListenAddr=127.0.0.1:18428 \
    >"$work/vm.log" 2>&1 &
pids+=($!)
wait_http http://127.0.0.1:18428/health
run "victoria-metrics line protocol" --port 18428 --path /write

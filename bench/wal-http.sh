#!/usr/bin/env bash
# bench/wal-http.sh — what the WAL costs on the real write path: HTTP line
# protocol into a real `arc`, WAL off vs each sync mode, interleaved rounds.
#
# Usage: bench/wal-http.sh [seconds=6] [rounds=3] [connections=64] [batch=20] [modes]
#        modes: comma-separated, default "off,async,fdatasync,fsync"; a WAL mode
#        may carry suffixes: +noprealloc (wal.preallocate = false), +nodelay
#        (wal.group_commit_delay_us = 0); WARMUP=<whole seconds> (default 2)
# Needs: build/arc and build/bench_ingest (cmake --build build).
#
# Each round starts a fresh server per mode on 127.0.0.1 (modes in a rotated
# order each round, a sync and a pause between runs; temporary data and
# WAL directory under $TMPDIR or /tmp, on the disk the WAL would live on),
# runs bench_ingest for WARMUP seconds (default 2, not counted: the server
# past its start-up, as it runs in production) and then `seconds`, reads
# the server's CPU time over the measured window from /proc/<pid>/stat, and
# stops the server by PID. With BUFFERS=large (the
# default) buffers are large enough that nothing is flushed during the run,
# so the only work besides the WAL is HTTP and parsing (the WAL's worst
# case); BUFFERS=default keeps the default buffer settings, so Parquet
# flushes (and WAL segment retirement) run as they would in production. Reported per mode: median rows/s over the rounds
# (and every round, with its CPU), server CPU µs per request, p50/p99 latency of the median
# round, and the cost against "off". Timings on a shared machine are noisy:
# compare modes within one run, and prefer the CPU column when rounds differ.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-6}
rounds=${2:-3}
conns=${3:-64}
batch=${4:-20}
modes=${5:-off,async,fdatasync,fsync}
buffers=${BUFFERS:-large}
warmup=${WARMUP:-2}
case $warmup in
'' | *[!0-9]*)
    echo "WARMUP must be whole seconds (bench_ingest --warmup)" >&2
    exit 2
    ;;
esac
arc="$root/build/arc"
bench="$root/build/bench_ingest"
work=$(mktemp -d "${TMPDIR:-/tmp}/arc-walbench-XXXXXX")
port=18150
pid=""
cleanup() {
    if [ -n "$pid" ]; then
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
hz=$(getconf CLK_TCK)

cpu_ticks() { # pid → utime+stime in clock ticks
    awk '{print $14 + $15}' "/proc/$1/stat"
}

wal_syncs() { # the running server's WAL syncs so far, or nothing (WAL off)
    curl -s "http://127.0.0.1:$port/api/v1/wal/stats" 2>/dev/null |
        sed -n 's/.*"total_syncs":\([0-9]*\).*/\1/p' || true
}

run_one() { # mode round → appends "mode rows_s cpu_us_per_req p50 p99 errors req/sync round" to $work/results
    local mode=$1 round=$2 dir="$work/$1-$2"
    mkdir -p "$dir"
    local walenv=(ARC_WAL_ENABLED=false)
    [ "$mode" != off ] && walenv=(ARC_WAL_ENABLED=true ARC_WAL_SYNC_MODE="${mode%%+*}" ARC_WAL_DIR="$dir/wal")
    [[ "$mode" == *+noprealloc* ]] && walenv+=(ARC_WAL_PREALLOCATE=false)
    [[ "$mode" == *+nodelay* ]] && walenv+=(ARC_WAL_GROUP_COMMIT_DELAY_US=0)
    local bufenv=()
    [ "$buffers" = large ] && bufenv=(ARC_INGESTION_BUFFER_SIZE=5000000
        ARC_INGESTION_BUFFER_HARD_LIMIT=10000000 ARC_INGESTION_BUFFER_AGE_SECONDS=600
        ARC_INGESTION_MAX_TOTAL_BUFFER_MB=8192)
    (cd "$dir" && exec env ARC_AUTH_ENABLED=false ARC_SERVER_HOST=127.0.0.1 ARC_SERVER_PORT=$port \
        ARC_LOGGING_LEVEL=WARN "${bufenv[@]}" "${walenv[@]}" "$arc" >"$dir/arc.log" 2>&1) &
    pid=$!
    for _ in $(seq 1 100); do
        curl -sf -o /dev/null "http://127.0.0.1:$port/ready" && break
        sleep 0.1
    done
    local c0 out c1 s0 s1 syncs=""
    "$bench" --port $port --connections "$conns" --batch "$batch" --hosts 20 --seconds "$secs" \
        --warmup "$warmup" >"$dir/bench.out" &
    local bp=$!
    sleep "$warmup"
    c0=$(cpu_ticks "$pid")
    s0=$(wal_syncs)
    wait "$bp"
    c1=$(cpu_ticks "$pid")
    s1=$(wal_syncs)
    out=$(cat "$dir/bench.out")
    [ -n "$s0" ] && [ -n "$s1" ] && syncs=$((s1 - s0))
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    pid=""
    local reqs rows p50 p99 errs
    reqs=$(sed -n 's/^requests=\([0-9]*\).*/\1/p' <<<"$out")
    errs=$(sed -n 's/^requests=[0-9]* errors=\([0-9]*\).*/\1/p' <<<"$out")
    rows=$(sed -n 's/^records_per_sec=\([0-9]*\).*/\1/p' <<<"$out")
    p50=$(sed -n 's/^latency_ms p50=\([0-9.]*\).*/\1/p' <<<"$out")
    p99=$(sed -n 's/^latency_ms .* p99=\([0-9.]*\).*/\1/p' <<<"$out")
    local cpu_us=$(((c1 - c0) * 1000000 / hz / (reqs > 0 ? reqs : 1)))
    local group=-
    [ -n "$syncs" ] && [ "$syncs" -gt 0 ] && group=$(awk -v r="$reqs" -v s="$syncs" 'BEGIN {printf "%.1f", r / s}')
    echo "$mode $rows $cpu_us $p50 $p99 $errs $group $round" >>"$work/results"
    rm -rf "$dir"
}

echo "machine: $(nproc) cores, $(. /etc/os-release; echo "$PRETTY_NAME"), $(date -u '+%Y-%m-%d %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "BUFFERS=$buffers WARMUP=$warmup bench/wal-http.sh $secs $rounds $conns $batch $modes"
IFS=, read -r -a mlist <<<"$modes"
n=${#mlist[@]}
for r in $(seq 1 "$rounds"); do
    # Rotate the order each round: a mode is not always the one that runs
    # after the same neighbour, or last in a round on a machine that drifts.
    for i in $(seq 0 $((n - 1))); do
        m=${mlist[$(((i + r - 1) % n))]}
        run_one "$m" "$r"
        # The previous run's files (WAL, spares) are deleted and written
        # back now, not during the next run.
        sync
        sleep 1
    done
done

printf '%-22s %10s %12s %9s %9s %7s %9s   %s\n' mode rows/s cpu_us/req p50_ms p99_ms errors req/sync "all rounds rows/s/cpu_us"
off_rows=""
for m in "${mlist[@]}"; do
    # median round by rows/s
    line=$(awk -v m="$m" '$1 == m' "$work/results" | sort -k2,2n | awk -v n="$rounds" 'NR == int((n + 1) / 2)')
    all=$(awk -v m="$m" '$1 == m {printf "%s/%s ", $2, $3}' "$work/results")
    read -r _ rows cpu p50 p99 errs group _ <<<"$line"
    printf '%-22s %10s %12s %9s %9s %7s %9s   %s\n' "$m" "$rows" "$cpu" "$p50" "$p99" "$errs" "$group" "$all"
    [ "$m" = off ] && off_rows=$rows
    if [ -n "$off_rows" ] && [ "$m" != off ]; then
        # Also paired: the cost within each round (runs minutes apart see
        # different machines; runs of one round, seconds apart, less so),
        # and the median of those.
        paired=$(awk -v m="$m" '$1 == "off" {off[$8] = $2} $1 == m {mine[$8] = $2}
            END {for (r in mine) if (off[r] > 0) printf "%.1f\n", 100 * (1 - mine[r] / off[r])}' \
            "$work/results" | sort -g | tr '\n' ' ')
        med=$(tr ' ' '\n' <<<"$paired" | awk 'NF' | awk '{v[NR] = $1} END {if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2)}')
        awk -v a="$off_rows" -v b="$rows" -v m="$m" -v med="$med" -v all="$paired" \
            'BEGIN {printf "  %s costs %.1f%% of the throughput of off (medians); per round: %s(median %s%%)\n", m, 100 * (1 - b / a), all, med}'
    fi
done

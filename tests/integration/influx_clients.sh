#!/usr/bin/env bash
# tests/integration/influx_clients.sh — real InfluxDB clients against the real
# server with authentication on: Debian's python3-influxdb (token as the
# password) and `influx -import` from influxdb-client. Exit 77 (skipped) when
# a client is not installed. Starts arc on a free loopback port with a
# temporary directory and stops it by PID.
set -euo pipefail
bin=${ARC_BIN:?ARC_BIN not set}
if ! /usr/bin/python3 -c 'import influxdb' 2>/dev/null || ! command -v influx >/dev/null; then
    echo "SKIP: needs python3-influxdb and influxdb-client (scripts/setup installs them)"
    exit 77
fi
dir=$(mktemp -d /tmp/arc-itest-influx-XXXXXX)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
token=itest-bootstrap-token-0123456789abcdef0123456789
(cd "$dir" && ARC_SERVER_HOST=127.0.0.1 ARC_SERVER_PORT=$port ARC_AUTH_ENABLED=true \
    ARC_AUTH_BOOTSTRAP_TOKEN=$token exec "$bin" >"$dir/arc.log" 2>&1) &
pid=$!
for _ in $(seq 1 100); do
    curl -s -o /dev/null "http://127.0.0.1:$port/ready" && break
    sleep 0.1
done
# A generated admin token verifies fast (the bootstrap one is PBKDF2-hashed).
admin=$(curl -s -H "Authorization: Bearer $token" -XPOST "http://127.0.0.1:$port/api/v1/auth/tokens" \
    -d '{"name":"clients","permissions":["read","write","admin"]}' |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')

# 1. python3-influxdb, token as password; a wrong password must fail.
/usr/bin/python3 - "$port" "$admin" <<'PY'
import sys
from influxdb import InfluxDBClient
from influxdb.exceptions import InfluxDBClientError
port, token = int(sys.argv[1]), sys.argv[2]
c = InfluxDBClient("127.0.0.1", port, "telegraf", token, "pyclient")
c.create_database("pyclient")
pts = [{"measurement": "cpu", "tags": {"host": "h%d" % (i % 5)},
        "time": 1700000000000000000 + i * 1000000000, "fields": {"v": float(i)}}
       for i in range(100)]
assert c.write_points(pts, time_precision="n"), "write_points failed"
bad = InfluxDBClient("127.0.0.1", port, "telegraf", "wrong-token", "pyclient")
try:
    bad.write_points(pts[:1])
    sys.exit("a wrong token was accepted")
except InfluxDBClientError as e:
    assert e.code == 401, e.code
print("python3-influxdb: ok")
PY

# 2. influx -import (InfluxDB 1.x CLI), token as password.
cat >"$dir/import.txt" <<'DATA'
# DDL
CREATE DATABASE imported
# DML
# CONTEXT-DATABASE: imported
mem,host=a used=1i 1700000000000000000
mem,host=b used=2i 1700000001000000000
mem,host=c used=3i 1700000002000000000
DATA
influx -host 127.0.0.1 -port "$port" -username telegraf -password "$admin" \
    -import -path "$dir/import.txt" -precision ns >"$dir/import.log" 2>&1 || {
    cat "$dir/import.log"; exit 1; }
grep -q "Processed 3 inserts" "$dir/import.log" && grep -q "Failed 0 inserts" "$dir/import.log" \
    && ! grep -qi error "$dir/import.log" || { cat "$dir/import.log"; exit 1; }
echo "influx -import: ok"

count() { # db sql
    curl -s -H "Authorization: Bearer $admin" -H "x-arc-database: $1" \
        "http://127.0.0.1:$port/api/v1/query" -d "{\"sql\":\"$2\"}" |
        /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["data"][0][0])'
}
[ "$(count pyclient 'SELECT count(*) FROM cpu')" = 100 ] || { echo "pyclient rows missing"; exit 1; }
[ "$(count imported 'SELECT sum(used) FROM mem')" = 6 ] || { echo "imported rows missing"; exit 1; }
echo "rows visible through SQL: ok"
kill "$pid"
wait "$pid"
pid=

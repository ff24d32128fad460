#!/usr/bin/env bash
# API load (issue 24): CLIENTS clients (default 50) poll GET /api/v1/snapshots and
# GET /api/v1/stats as fast as they can for DURATION seconds (default 20) against a daemon
# whose repository holds SNAPSHOTS backups (default 1,000), while the daemon takes a backup.
# Prints the requests' p50/p99 latency and throughput, and the backup's duration without and
# with the load (3 interleaved runs, medians).
#
# Usage: bench/api.sh     (SNAPSHOTS=200 DURATION=10 for a quick look)
set -euo pipefail
cd "$(dirname "$0")/.."

SNAPSHOTS=${SNAPSHOTS:-1000}
CLIENTS=${CLIENTS:-50}
DURATION=${DURATION:-20}
RUNS=3
WORK=${BENCH_DIR:-$(mktemp -d /tmp/lifeboat-bench-api.XXXXXX)}
trap 'kill $(jobs -p) 2>/dev/null || true; [ -n "${DAEMON:-}" ] && kill "$DAEMON" 2>/dev/null; rm -rf "$WORK"' EXIT
export LIFEBOAT_PASSWORD=bench

scripts/setup
if [ -n "${LIFEBOAT_BIN:-}" ]; then LB=$(realpath "$LIFEBOAT_BIN"); else cargo build --release --locked -q; LB=$PWD/target/release/lifeboat; fi
source bench/lib.sh

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
"$LB" init --repo "$WORK/repo" >/dev/null
make_db "$WORK/app.db" 200000
cat >"$WORK/lifeboat.toml" <<TOML
[repository]
url = "$WORK/repo"
[state]
dir = "$WORK/state"
[api]
listen = "127.0.0.1:$PORT"
[[databases]]
name = "app"
url = "$WORK/app.db"
schedule = { drill = "off" }
TOML
chmod 600 "$WORK/lifeboat.toml"
TOKEN=$("$LB" token add bench --role operator --config "$WORK/lifeboat.toml" 2>/dev/null)
"$LB" daemon --config "$WORK/lifeboat.toml" 2>"$WORK/daemon.log" &
DAEMON=$!
until curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/stats"; do sleep 0.2; done

# ok_backups: how many backups the job log has that ended ok.
ok_backups() { curl -sf -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"]["ok"])'; }
# backup: asks for one and waits for it; prints its duration in seconds, from the job log.
backup() {
  local before; before=$(ok_backups)
  curl -sf -o /dev/null -X POST -H "Authorization: Bearer $TOKEN" -d '{"database": "app", "reason": "bench"}' "$BASE/api/v1/backups"
  while [ "$(ok_backups)" -le "$before" ]; do sleep 0.05; done
  curl -sf -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/jobs?database=app&status=ok&last=20" | python3 -c '
import json, sys
from datetime import datetime
job = next(j for j in json.load(sys.stdin)["jobs"] if j["kind"] == "backup")
t = lambda s: datetime.fromisoformat(s.rstrip("Z")[:26])
print("%.3f" % (t(job["finished_at"]) - t(job["started_at"])).total_seconds())'
}

echo "filling the repository with $SNAPSHOTS backups (through the API)..."
start=$(date +%s)
for _ in $(seq "$SNAPSHOTS"); do
  curl -sf -o /dev/null -X POST -H "Authorization: Bearer $TOKEN" -d '{"database": "app"}' "$BASE/api/v1/backups"
done
while [ "$(ok_backups)" -lt "$SNAPSHOTS" ]; do sleep 1; done
echo "  done in $(( $(date +%s) - start )) s"

# The clients: each keeps one connection and alternates the two routes.
cat >"$WORK/clients.py" <<'PY'
import http.client, json, sys, threading, time
port, token, clients, duration, out = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
latencies, errors = [], [0]
lock = threading.Lock()
def client():
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    paths = ["/api/v1/snapshots", "/api/v1/stats"]
    end, i, mine = time.monotonic() + duration, 0, []
    while time.monotonic() < end:
        began = time.monotonic()
        conn.request("GET", paths[i % 2], headers={"Authorization": "Bearer " + token})
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            with lock: errors[0] += 1
        mine.append(time.monotonic() - began)
        i += 1
    with lock: latencies.extend(mine)
threads = [threading.Thread(target=client) for _ in range(clients)]
for t in threads: t.start()
for t in threads: t.join()
latencies.sort()
pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]
with open(out, "a") as f:
    f.write(f"{pick(0.5):.4f} {pick(0.99):.4f} {len(latencies) / duration:.1f} {errors[0]}\n")
PY

: >"$WORK/quiet" ; : >"$WORK/loaded" ; : >"$WORK/requests"
for run in $(seq $RUNS); do
  backup >>"$WORK/quiet"
  python3 "$WORK/clients.py" "$PORT" "$TOKEN" "$CLIENTS" "$DURATION" "$WORK/requests" &
  clients=$!
  sleep 2  # the load is on before the backup starts
  backup >>"$WORK/loaded"
  wait "$clients"
done

cpu
echo "$SNAPSHOTS backups in the repository; $CLIENTS clients for ${DURATION}s per run; $RUNS interleaved runs, medians"
printf 'requests: p50 %s s, p99 %s s, %s requests/s, %s errors (GET snapshots and GET stats alternating)\n' \
  "$(col 1 "$WORK/requests")" "$(col 2 "$WORK/requests")" "$(col 3 "$WORK/requests")" "$(col 4 "$WORK/requests")"
quiet=$(median <"$WORK/quiet"); loaded=$(median <"$WORK/loaded")
printf 'backup of a %s database: %s s alone, %s s under the load (ratio %s)\n' "$(du -h "$WORK/app.db" | cut -f1)" "$quiet" "$loaded" "$(ratio "$loaded" "$quiet")"

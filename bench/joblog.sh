#!/usr/bin/env bash
# Job log benchmark (issue 23's target): `lifeboat log`, `stats` and `health` with JOBS jobs
# in state.db (default 100,000: 20 databases, a job every few minutes over 400 days; backups,
# drills, checks, prunes and copies; 4% failed, 1% interrupted) must answer in under 200 ms.
#
# The daemon's /metrics is scraped from a daemon running on the same store.
#
# Usage: bench/joblog.sh                 (3 interleaved runs per command, medians)
#        LIFEBOAT_OLD=path bench/joblog.sh   also times that binary (e.g. a build of an older
#                                        commit) on a copy of the same store, for a ratio
set -euo pipefail
cd "$(dirname "$0")/.."

JOBS=${JOBS:-100000}
RUNS=3
WORK=${BENCH_DIR:-$(mktemp -d /tmp/lifeboat-bench-joblog.XXXXXX)}
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
export LIFEBOAT_PASSWORD=bench

scripts/setup
if [ -n "${LIFEBOAT_BIN:-}" ]; then LB=$(realpath "$LIFEBOAT_BIN"); else cargo build --release --locked -q; LB=$PWD/target/release/lifeboat; fi
OLD=${LIFEBOAT_OLD:+$(realpath "$LIFEBOAT_OLD")}
source bench/lib.sh

# The repository and the databases health reads: 20 small SQLite files.
"$LB" init --repo "$WORK/repo" >/dev/null
{
  printf '[repository]\nurl = "%s"\n[state]\ndir = "%s"\n' "$WORK/repo" "$WORK/state"
  for i in $(seq -w 0 19); do
    sqlite3 "$WORK/db$i.db" 'CREATE TABLE t(x); INSERT INTO t VALUES (1);'
    printf '[[databases]]\nname = "db%s"\nurl = "%s"\nschedule = { daily = "0 3 * * *", drill = "after-each-backup" }\n' "$i" "$WORK/db$i.db"
  done
} >"$WORK/lifeboat.toml"
chmod 600 "$WORK/lifeboat.toml"

# The store: made by the binary under test (its current schema), then filled by SQL.
LIFEBOAT_STATE_DIR="$WORK/state" "$LB" log >/dev/null
sqlite3 "$WORK/state/state.db" <<SQL
WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < $JOBS),
  j(n, k, s, t) AS (
    SELECT n, abs(random()) % 100, abs(random()) % 100,
           unixepoch('now') - 400 * 86400 + n * (400 * 86400 / $JOBS) FROM g)
INSERT INTO jobs (database, repository, kind, classes, trigger, actor, started_at, finished_at, status,
                  snapshot, bytes_read, bytes_added, rows, error, host, pid)
SELECT CASE WHEN k < 90 THEN printf('db%02d', n % 20) END,
       CASE WHEN k >= 97 THEN 's3:https://mirror.example.com/lifeboat' END,
       CASE WHEN k < 70 THEN 'backup' WHEN k < 90 THEN 'drill' WHEN k < 95 THEN 'check' WHEN k < 97 THEN 'prune' ELSE 'copy' END,
       CASE WHEN k < 70 THEN 'daily' ELSE '' END,
       CASE WHEN s % 10 = 0 THEN 'manual' ELSE 'schedule' END,
       'lifeboat',
       strftime('%Y-%m-%dT%H:%M:%SZ', t, 'unixepoch'),
       strftime('%Y-%m-%dT%H:%M:%SZ', t + 5 + s, 'unixepoch'),
       CASE WHEN s < 95 THEN 'ok' WHEN s < 99 THEN 'failed' ELSE 'interrupted' END,
       CASE WHEN k < 90 THEN lower(hex(randomblob(32))) END,
       100000000 + n, 1000 + s * 100, 50000 + n,
       CASE WHEN s >= 95 THEN 'database is locked' END,
       'bench-host', 1
FROM j;
SQL
# Each job's request, as the runner records it (schema 3 on): `log --json` carries it.
sqlite3 "$WORK/state/state.db" "UPDATE jobs SET request = json_object('database', database, 'request',
  json_object('name', database, 'class', classes, 'also_classes', json_array(), 'reason', NULL, 'tags', json_array(),
              'source_label', '/srv/' || database || '.db'),
  'options', json_object('schemas', json_array(), 'tables', json_array(), 'exclude_tables', json_array(),
                         'globals', json('false'), 'jobs', NULL, 'integrity', NULL))" 2>/dev/null || true
cp -r "$WORK/state" "$WORK/state-old"
echo "job log: $(sqlite3 "$WORK/state/state.db" 'SELECT count(*) FROM jobs') jobs, $(du -h "$WORK/state/state.db" | cut -f1)"

# timed OUT CMD...: as lib.sh's, to the millisecond (these commands take tens of them).
timed() {
  local out=$1 start end; shift
  start=$(date +%s%N)
  /usr/bin/time -f "%M" -o "$WORK/time.tmp" "$@" >/dev/null
  end=$(date +%s%N)
  echo "$(( (end - start) / 1000000 )) $(cat "$WORK/time.tmp")" | awk '{printf "%.3f %s\n", $1 / 1000, $2}' >>"$out"
}

# run BINARY STATE_DIR NAME SIDE: one timing of command NAME, appended to $WORK/NAME.SIDE.
run() {
  local bin=$1 state=$2 name=$3 side=$4
  local config="$WORK/lifeboat.toml"
  [ "$state" = "$WORK/state" ] || { sed "s#$WORK/state\"#$state\"#" "$WORK/lifeboat.toml" >"$WORK/old.toml"; chmod 600 "$WORK/old.toml"; config="$WORK/old.toml"; }
  case $name in
    log) timed "$WORK/$name.$side" env LIFEBOAT_STATE_DIR="$state" "$bin" log ;;
    log-all) timed "$WORK/$name.$side" env LIFEBOAT_STATE_DIR="$state" "$bin" log --all ;;
    log-json) timed "$WORK/$name.$side" env LIFEBOAT_STATE_DIR="$state" "$bin" log --json ;;
    log-db-failed) timed "$WORK/$name.$side" env LIFEBOAT_STATE_DIR="$state" "$bin" log --db db07 --status failed ;;
    log-last-20) timed "$WORK/$name.$side" env LIFEBOAT_STATE_DIR="$state" "$bin" log --last 20 ;;
    stats) timed "$WORK/$name.$side" env LIFEBOAT_STATE_DIR="$state" "$bin" stats ;;
    # Exit 1 or 2 is a verdict (no backups exist in the repository), not a failure.
    health) timed "$WORK/$name.$side" sh -c '"$0" health --config "$1" --json >/dev/null; [ $? -le 2 ]' "$bin" "$config" ;;
    # The same health with an empty job log: what the repository and the 20 databases cost.
    # One scrape of the running daemon's /metrics (its RSS is curl's, not the daemon's).
    metrics) timed "$WORK/$name.$side" curl -sf "http://127.0.0.1:$([ "$side" = new ] && echo "$NEW_PORT" || echo "$OLD_PORT")/metrics" ;;
    health-empty-log) timed "$WORK/$name.$side" sh -c '"$0" health --config "$1" --json >/dev/null; [ $? -le 2 ]' "$bin" "$WORK/empty.toml" ;;
  esac
}

sed "s#$WORK/state\"#$WORK/state-empty\"#" "$WORK/lifeboat.toml" >"$WORK/empty.toml"; chmod 600 "$WORK/empty.toml"
# A daemon per binary, serving /metrics from its store (nothing is due: daily at 03:00).
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
serve() {
  local bin=$1 state=$2 port=$3 config="$WORK/metrics-$3.toml"
  sed "s#$WORK/state\"#$state\"#" "$WORK/lifeboat.toml" >"$config"
  printf '[metrics]\nlisten = "127.0.0.1:%s"\n' "$port" >>"$config"
  chmod 600 "$config"
  "$bin" daemon --config "$config" 2>"$WORK/daemon-$port.log" &
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/metrics" >/dev/null && return; sleep 0.1; done
  echo "bench: the daemon on port $port did not serve metrics" >&2; cat "$WORK/daemon-$port.log" >&2; exit 1
}
NEW_PORT=$(free_port); serve "$LB" "$WORK/state" "$NEW_PORT"
if [ -n "$OLD" ]; then OLD_PORT=$(free_port); serve "$OLD" "$WORK/state-old" "$OLD_PORT"; fi

COMMANDS="log log-all log-json log-db-failed log-last-20 stats health health-empty-log metrics"
for round in $(seq $RUNS); do
  for name in $COMMANDS; do
    run "$LB" "$WORK/state" "$name" new
    # The old binary has no --last and lists every job by default: its `log` is compared with
    # both `log` and `log --all`.
    case $name in
      log-last-20 | health-empty-log) ;;
      log-all) [ -z "$OLD" ] || { run "$OLD" "$WORK/state-old" log old-all; cat "$WORK/log.old-all" >>"$WORK/log-all.old"; rm "$WORK/log.old-all"; } ;;
      *) [ -z "$OLD" ] || run "$OLD" "$WORK/state-old" "$name" old ;;
    esac
  done
done

cpu
echo "$JOBS jobs; $RUNS runs each, interleaved; medians (seconds; peak RSS in MiB)"
printf '%-16s %10s %8s %10s %8s %8s\n' command lifeboat rss old old-rss ratio
for name in $COMMANDS; do
  new=$(col 1 "$WORK/$name.new"); rss=$(( $(col 2 "$WORK/$name.new") / 1024 ))
  if [ -f "$WORK/$name.old" ]; then
    old=$(col 1 "$WORK/$name.old"); orss=$(( $(col 2 "$WORK/$name.old") / 1024 ))
    printf '%-16s %10s %8s %10s %8s %8s\n' "$name" "$new" "$rss" "$old" "$orss" "$(ratio "$new" "$old")"
  else
    printf '%-16s %10s %8s %10s %8s %8s\n' "$name" "$new" "$rss" - - -
  fi
done

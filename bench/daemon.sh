#!/usr/bin/env bash
# Daemon benchmark (issue 11's targets), three parts:
#  1. A fleet: DBS SQLite databases of about 5 MB, all due at once, concurrent_jobs = 2: the
#     daemon's round (first start to last end in its job log) against a shell loop running
#     `lifeboat backup` for each (a process start and a key derivation per database).
#  2. A backup's wall time under the daemon (its job log's start to end) against the same
#     backup from the CLI (the whole command), on a database of about 100 MB.
#  3. Idle: the daemon with nothing due for IDLE seconds: CPU share of one core and peak RSS.
#
# Usage: bench/daemon.sh          (DBS=50, IDLE=60; each side 3 times, interleaved, fresh
#                                  repositories each time; medians and ratios)
set -euo pipefail
cd "$(dirname "$0")/.."

DBS=${DBS:-50}
IDLE=${IDLE:-60}
RUNS=3
WORK=${BENCH_DIR:-$(mktemp -d /tmp/lifeboat-bench-daemon.XXXXXX)}
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
export LIFEBOAT_PASSWORD=bench

scripts/setup
if [ -n "${LIFEBOAT_BIN:-}" ]; then LB=$(realpath "$LIFEBOAT_BIN"); else cargo build --release --locked -q; LB=$PWD/target/release/lifeboat; fi
source bench/lib.sh
now() { date +%s.%N; }

# span KIND: from `lifeboat log --json` on stdin, the seconds from the first start to the last
# end of the jobs of KIND; fails when any of them did not end ok.
span() {
  python3 -c '
import json, sys
from datetime import datetime
def ts(s):
    base, _, frac = s.rstrip("Z").partition(".")
    return datetime.fromisoformat(base + "+00:00").timestamp() + float("0." + (frac or "0"))
jobs = [j for j in json.load(sys.stdin)["jobs"] if j["kind"] == sys.argv[1]]
bad = [j for j in jobs if j["status"] != "ok"]
if bad:
    sys.exit("bench: %d jobs did not end ok: %s" % (len(bad), bad[0]["error"]))
print(max(ts(j["finished_at"]) for j in jobs) - min(ts(j["started_at"]) for j in jobs))
' "$1"
}

echo "bench: $DBS databases of about 5 MB, and one of about 100 MB..."
mkdir -p "$WORK/fleet"
make_db "$WORK/fleet/db0.db" 45000
for i in $(seq 1 $((DBS - 1))); do cp "$WORK/fleet/db0.db" "$WORK/fleet/db$i.db"; sqlite3 "$WORK/fleet/db$i.db" "UPDATE payments SET token = lower(hex(randomblob(16)));"; done
make_db "$WORK/big.db" 900000
echo "bench: fleet database $(du -sh "$WORK/fleet/db0.db" | cut -f1), big database $(du -sh "$WORK/big.db" | cut -f1)"

# config FILE REPO STATE CRON DB...: a configuration backing up each DB on CRON.
config() {
  local file=$1 repo=$2 state=$3 cron=$4; shift 4
  printf '[repository]\nurl = "%s"\n[state]\ndir = "%s"\n[limits]\nconcurrent_jobs = 2\n' "$repo" "$state" >"$file"
  for db in "$@"; do
    local name; name=$(basename "$db" .db)
    printf '\n[[databases]]\nname = "%s"\nurl = "%s"\n[databases.schedule]\nhourly = "%s"\n' "$name" "$db" "$cron" >>"$file"
  done
}

# daemon_round DB...: starts a daemon whose schedule fires a few seconds later, waits until
# every DB has a logged backup, stops it; prints the round's seconds (first start to last end).
daemon_round() {
  local dir=$WORK/d; rm -rf "$dir"; mkdir -p "$dir"
  $LB init --repo "$dir/repo" >/dev/null
  local second=$(( ($(date +%s) + 4) % 60 ))
  config "$dir/lifeboat.toml" "$dir/repo" "$dir/state" "$second * * * * *" "$@"
  LIFEBOAT_CONFIG=$dir/lifeboat.toml $LB daemon 2>"$dir/events.log" &
  local pid=$!
  until [ "$(LIFEBOAT_STATE_DIR=$dir/state $LB log --json 2>/dev/null | jq '[.jobs[] | select(.kind == "backup" and .status != "running")] | length' 2>/dev/null || echo 0)" -ge $# ]; do sleep 0.2; done
  kill -TERM $pid; wait $pid
  LIFEBOAT_STATE_DIR=$dir/state $LB log --json | span backup
}

# cli_loop DB...: `lifeboat backup` for each DB, one after the other, as a shell loop would.
cli_loop() {
  local dir=$WORK/c; rm -rf "$dir"; mkdir -p "$dir"
  $LB init --repo "$dir/repo" >/dev/null
  local start; start=$(now)
  for db in "$@"; do $LB backup "$db" --repo "$dir/repo" >/dev/null; done
  awk -v a="$start" -v b="$(now)" 'BEGIN {print b - a}'
}

# daemon_job DB: one backup's duration as the daemon's job log records it.
daemon_job() {
  daemon_round "$1" >/dev/null
  LIFEBOAT_STATE_DIR=$WORK/d/state $LB log --json | span backup
}

cli_one() {
  local dir=$WORK/c; rm -rf "$dir"; mkdir -p "$dir"
  $LB init --repo "$dir/repo" >/dev/null
  local start; start=$(now)
  $LB backup "$1" --repo "$dir/repo" >/dev/null
  awk -v a="$start" -v b="$(now)" 'BEGIN {print b - a}'
}

fleet=("$WORK"/fleet/*.db)
: >"$WORK/round.daemon"; : >"$WORK/round.cli"; : >"$WORK/one.daemon"; : >"$WORK/one.cli"
for run in $(seq $RUNS); do
  echo "bench: run $run/$RUNS"
  daemon_round "${fleet[@]}" >>"$WORK/round.daemon"
  cli_loop "${fleet[@]}" >>"$WORK/round.cli"
  daemon_job "$WORK/big.db" >>"$WORK/one.daemon"
  cli_one "$WORK/big.db" >>"$WORK/one.cli"
done

# Idle: nothing due (a yearly schedule), sampled once a second.
dir=$WORK/idle; mkdir -p "$dir"; $LB init --repo "$dir/repo" >/dev/null
config "$dir/lifeboat.toml" "$dir/repo" "$dir/state" "0 0 5 1 1 *" "${fleet[@]:0:5}"
LIFEBOAT_CONFIG=$dir/lifeboat.toml $LB daemon 2>"$dir/events.log" &
pid=$!
sleep 2
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
t0=$(ticks); rss=0
for _ in $(seq "$IDLE"); do
  sleep 1
  r=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status"); [ "$r" -gt "$rss" ] && rss=$r
done
t1=$(ticks)
kill -TERM $pid; wait $pid
hz=$(getconf CLK_TCK)

echo
cpu
two() { awk '{printf "%.2f", $1}'; }
d=$(median <"$WORK/round.daemon" | two); c=$(median <"$WORK/round.cli" | two)
echo "fleet of $DBS x $(du -sh "$WORK/fleet/db0.db" | cut -f1), concurrent_jobs = 2 (medians of $RUNS):"
echo "  daemon round ${d}s, shell loop of lifeboat backup ${c}s: ratio $(ratio "$d" "$c") (target <= 0.30)"
d=$(median <"$WORK/one.daemon" | two); c=$(median <"$WORK/one.cli" | two)
echo "one backup of $(du -sh "$WORK/big.db" | cut -f1) (medians of $RUNS):"
echo "  under the daemon ${d}s, from the CLI ${c}s: ratio $(ratio "$d" "$c") (target <= 1.05)"
echo "idle for ${IDLE}s: $(awk -v t=$((t1 - t0)) -v hz="$hz" -v s="$IDLE" 'BEGIN {printf "%.2f", 100 * t / hz / s}')% of one core (target <= 1%), peak RSS $((rss / 1024)) MiB (target <= 64 MiB)"

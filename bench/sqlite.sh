#!/usr/bin/env bash
# SQLite benchmark: lifeboat against the pipeline a user would script instead
# (`sqlite3 .backup` + `zstd -3 -T0`, restored with `zstd -d` + a copy into place).
#
# Usage: bench/sqlite.sh [ROWS]        (default 3000000 rows, about 350 MB, WAL mode)
#        INTEGRITY=full bench/sqlite.sh   (lifeboat backs up with --integrity full; default quick)
#
# Each side runs 3 times, interleaved, on the same database; the script prints medians and
# ratios. The machine is shared and noisy: read the ratios, not the absolute times. Peak RSS is
# measured at 1x and again on a database 3x the size (memory must not grow with the database).
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS=${1:-3000000}
RUNS=3
WORK=${BENCH_DIR:-$(mktemp -d /tmp/lifeboat-bench-sqlite.XXXXXX)}
trap 'rm -rf "$WORK"' EXIT
export LIFEBOAT_PASSWORD=bench

command -v /usr/bin/time >/dev/null || { echo "bench: needs GNU time (apt-get install time)" >&2; exit 1; }
scripts/setup
# LIFEBOAT_BIN measures another build (e.g. an older commit's) instead of this checkout's.
if [ -n "${LIFEBOAT_BIN:-}" ]; then LB=$(realpath "$LIFEBOAT_BIN"); else cargo build --release --locked -q; LB=$PWD/target/release/lifeboat; fi

source bench/lib.sh
repo_bytes() { du -sb "$1" | cut -f1; }

DB=$WORK/app.db
echo "bench: generating $ROWS rows..."
make_db "$DB" "$ROWS"
echo "bench: database $(du -sh "$DB" | cut -f1) (+ wal $(du -sh "$DB-wal" 2>/dev/null | cut -f1 || echo 0))"

# The application stays connected (as a real one does), so the WAL is not checkpointed and
# removed when a short-lived connection closes: backups must read committed frames from it.
mkfifo "$WORK/hold"
sqlite3 "$DB" <"$WORK/hold" >/dev/null &
exec 9>"$WORK/hold"
echo "SELECT count(*) FROM payments WHERE id < 10;" >&9
# A real change: an UPDATE that changes nothing writes no frame.
sqlite3 "$DB" "UPDATE payments SET status = (status + 1) % 9 WHERE id < 5000;"
echo "bench: wal $(stat -c %s "$DB-wal") bytes of committed frames"

for run in $(seq $RUNS); do
  rm -rf "$WORK/copy.db" "$WORK/copy.db.zst" "$WORK/repo"
  timed "$WORK/base_backup" bash -c "sqlite3 '$DB' \".backup '$WORK/copy.db'\" && zstd -q -3 -T0 '$WORK/copy.db' -o '$WORK/copy.db.zst'"
  stat -c %s "$WORK/copy.db.zst" >"$WORK/base_zst_bytes"
  "$LB" --repo "$WORK/repo" init >/dev/null
  timed "$WORK/lb_backup" "$LB" --repo "$WORK/repo" backup "$DB" --json ${INTEGRITY:+--integrity "$INTEGRITY"}
  first_bytes=$(repo_bytes "$WORK/repo")
  timed "$WORK/lb_again" "$LB" --repo "$WORK/repo" backup "$DB" --json ${INTEGRITY:+--integrity "$INTEGRITY"}
  echo $(( $(repo_bytes "$WORK/repo") - first_bytes )) >>"$WORK/again_bytes"
  echo "$first_bytes" >>"$WORK/first_bytes"

  rm -f "$WORK/restored.db" "$WORK/lb_restored.db"
  timed "$WORK/base_restore" bash -c "zstd -q -d '$WORK/copy.db.zst' -o '$WORK/restore.tmp' && mv '$WORK/restore.tmp' '$WORK/restored.db' && sync -f '$WORK/restored.db'"
  # A quick-checked backup that no drill has checked in full: the restore runs the full check.
  LIFEBOAT_STATE_DIR= timed "$WORK/lb_restore_undrilled" "$LB" --repo "$WORK/repo" restore latest --to "$WORK/lb_restored.db" --yes --json
  rm -f "$WORK/lb_restored.db"
  # The daemon's (or `lifeboat verify`'s) drill checks it in full; a restore then need not.
  rm -rf "$WORK/state"
  LIFEBOAT_STATE_DIR="$WORK/state" timed "$WORK/lb_drill" "$LB" --repo "$WORK/repo" verify latest --json
  LIFEBOAT_STATE_DIR="$WORK/state" timed "$WORK/lb_restore" "$LB" --repo "$WORK/repo" restore latest --to "$WORK/lb_restored.db" --yes --json
  # The fixed cost of every command: opening the repository (scrypt on the password).
  timed "$WORK/lb_open" "$LB" --repo "$WORK/repo" snapshots --json
  echo "bench: run $run done"
done

# 1% of rows in one id range change; the next backup should add about that much.
before=$(repo_bytes "$WORK/repo")
span=$(( ROWS / 100 ))
sqlite3 "$DB" "UPDATE payments SET amount = amount + 1, status = (status + 1) % 9 WHERE id BETWEEN 1000 AND $(( 1000 + span ));"
"$LB" --repo "$WORK/repo" backup "$DB" --json >/dev/null
changed_bytes=$(( $(repo_bytes "$WORK/repo") - before ))

exec 9>&-
wait

# Memory at 3x: peak RSS must stay flat as the database grows.
DB3=$WORK/big.db
rm -f "$WORK/copy.db" "$WORK/copy.db.zst" "$WORK/restored.db" "$WORK/lb_restored.db"
echo "bench: generating $(( ROWS * 3 )) rows for the 3x memory run..."
make_db "$DB3" $(( ROWS * 3 ))
"$LB" --repo "$WORK/repo3" init >/dev/null
timed "$WORK/lb_backup3" "$LB" --repo "$WORK/repo3" backup "$DB3" --json
timed "$WORK/lb_restore3" "$LB" --repo "$WORK/repo3" restore latest --to "$WORK/big_restored.db" --yes --json

first=$(median <"$WORK/first_bytes")
again=$(median <"$WORK/again_bytes")
b_backup=$(col 1 "$WORK/base_backup"); l_backup=$(col 1 "$WORK/lb_backup"); l_again=$(col 1 "$WORK/lb_again")
b_restore=$(col 1 "$WORK/base_restore"); l_restore=$(col 1 "$WORK/lb_restore")
l_undrilled=$(col 1 "$WORK/lb_restore_undrilled"); l_drill=$(col 1 "$WORK/lb_drill"); l_open=$(col 1 "$WORK/lb_open")
rss1=$(cat "$WORK/lb_backup" "$WORK/lb_again" "$WORK/lb_restore" "$WORK/lb_restore_undrilled" "$WORK/lb_drill" | awk '{print $2}' | sort -n | tail -1)
rss3=$(cat "$WORK/lb_backup3" "$WORK/lb_restore3" | awk '{print $2}' | sort -n | tail -1)

cpu
cat <<REPORT

SQLite benchmark: $ROWS rows, database $(du -sh "$DB" | cut -f1), integrity ${INTEGRITY:-quick}, $RUNS runs interleaved, medians
  first backup        lifeboat ${l_backup}s   sqlite3 .backup + zstd -3 -T0 ${b_backup}s   ratio $(ratio "$l_backup" "$b_backup")  (target <= 1.0)
  unchanged again     lifeboat ${l_again}s   vs first backup                          ratio $(ratio "$l_again" "$l_backup")  (target <= 0.3)
  unchanged again     added $again bytes to the repository                                  (target <= 1048576)
  1% rows updated     added $changed_bytes bytes, first backup $first bytes       ratio $(ratio "$changed_bytes" "$first")  (target <= 0.05)
  restore (drilled)   lifeboat ${l_restore}s   zstd -d + copy into place ${b_restore}s     ratio $(ratio "$l_restore" "$b_restore")  (target <= 1.0)
  restore (no drill)  lifeboat ${l_undrilled}s   (a quick-checked backup is checked in full now) ratio $(ratio "$l_undrilled" "$b_restore")
  restore drill       lifeboat ${l_drill}s   (verify: restore, full check, content hashes)
  open repository     lifeboat ${l_open}s   (scrypt on the password; in every command above)
  peak RSS            1x $(( rss1 / 1024 )) MiB, 3x $(( rss3 / 1024 )) MiB                                 (target <= 256 each)
  repository / zstd   $first bytes vs $(cat "$WORK/base_zst_bytes" 2>/dev/null || echo "?") bytes
REPORT

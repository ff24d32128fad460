#!/usr/bin/env bash
# Two lifeboat binaries on the same SQLite database, to show what a change costs or saves:
# first backup, unchanged backup again, restore; 3 runs of each side, interleaved; medians and
# the ratio new / old.
#
# Usage: bench/versions.sh OLD_BINARY NEW_BINARY [ROWS]   (default 3000000 rows, WAL mode)
# e.g.   git worktree add /tmp/old <commit> && (cd /tmp/old && cargo build --release)
#        bench/versions.sh /tmp/old/target/release/lifeboat target/release/lifeboat
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { sed -n '2,9p' "$0" >&2; exit 2; }
OLD=$(realpath "$1") NEW=$(realpath "$2") ROWS=${3:-3000000}
RUNS=3
WORK=${BENCH_DIR:-$(mktemp -d /tmp/lifeboat-bench-versions.XXXXXX)}
trap 'rm -rf "$WORK"' EXIT
export LIFEBOAT_PASSWORD=bench
source bench/lib.sh

DB=$WORK/app.db
echo "bench: generating $ROWS rows..."
make_db "$DB" "$ROWS"
for run in $(seq $RUNS); do
  for side in old new; do
    bin=$OLD; [ "$side" = new ] && bin=$NEW
    rm -rf "$WORK/repo" "$WORK/restored.db"
    "$bin" --repo "$WORK/repo" init >/dev/null
    timed "$WORK/${side}_backup" "$bin" --repo "$WORK/repo" backup "$DB" --json
    timed "$WORK/${side}_again" "$bin" --repo "$WORK/repo" backup "$DB" --json
    timed "$WORK/${side}_restore" "$bin" --repo "$WORK/repo" restore latest --to "$WORK/restored.db" --yes --json
  done
  echo "bench: run $run done"
done
cpu
echo "lifeboat versions on $ROWS rows ($(du -sh "$DB" | cut -f1)), $RUNS runs interleaved, medians (new / old):"
for step in backup again restore; do
  o=$(col 1 "$WORK/old_$step"); n=$(col 1 "$WORK/new_$step")
  printf '  %-8s old %6.2fs   new %6.2fs   ratio %s\n' "$step" "$o" "$n" "$(ratio "$n" "$o")"
done

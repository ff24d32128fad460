#!/usr/bin/env bash
# Storage benchmark: the same SQLite backup into a local folder and into a local S3-compatible
# server (s3s-fs, keeping its objects on the same disk), its restore from each, and `lifeboat
# copy` of that backup to a second repository against `restic copy` of it.
#
# Usage: bench/storage.sh [ROWS]     (default 3000000 rows, as bench/sqlite.sh)
#
# Each pair runs 3 times, interleaved, on the same data; the script prints medians and ratios.
# The machine is shared and noisy: read the ratios, not the absolute times.
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS=${1:-3000000}
RUNS=3
WORK=${BENCH_DIR:-$(mktemp -d /tmp/lifeboat-bench-storage.XXXXXX)}
S3_PID=""
trap '[ -n "$S3_PID" ] && kill "$S3_PID" 2>/dev/null; rm -rf "$WORK"' EXIT
export LIFEBOAT_PASSWORD=bench RESTIC_PASSWORD=bench
export AWS_ACCESS_KEY_ID=bench-key AWS_SECRET_ACCESS_KEY=bench-secret

command -v /usr/bin/time >/dev/null || { echo "bench: needs GNU time (apt-get install time)" >&2; exit 1; }
scripts/setup
if [ -n "${LIFEBOAT_BIN:-}" ]; then LB=$(realpath "$LIFEBOAT_BIN"); else cargo build --release --locked -q; LB=$PWD/target/release/lifeboat; fi

source bench/lib.sh
echo bench >"$WORK/password"; chmod 600 "$WORK/password"

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$WORK/s3"
s3s-fs --host 127.0.0.1 --port "$PORT" --access-key "$AWS_ACCESS_KEY_ID" --secret-key "$AWS_SECRET_ACCESS_KEY" "$WORK/s3" >/dev/null 2>&1 &
S3_PID=$!
until (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do sleep 0.1; done

DB=$WORK/app.db
echo "bench: generating $ROWS rows..."
make_db "$DB" "$ROWS"
sqlite3 "$DB" "PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
echo "bench: database $(du -sh "$DB" | cut -f1)"

for run in $(seq $RUNS); do
  rm -rf "$WORK/folder" "$WORK/lb_mirror" "$WORK/restic_mirror"
  "$LB" --repo "$WORK/folder" init >/dev/null
  timed "$WORK/folder_backup" "$LB" --repo "$WORK/folder" backup "$DB" --json
  "$LB" --repo "s3:http://127.0.0.1:$PORT/bench-$run" init >/dev/null
  timed "$WORK/s3_backup" "$LB" --repo "s3:http://127.0.0.1:$PORT/bench-$run" backup "$DB" --json
  rm -f "$WORK/from_folder.db" "$WORK/from_s3.db"
  timed "$WORK/folder_restore" "$LB" --repo "$WORK/folder" restore latest --to "$WORK/from_folder.db" --json
  timed "$WORK/s3_restore" "$LB" --repo "s3:http://127.0.0.1:$PORT/bench-$run" restore latest --to "$WORK/from_s3.db" --json
  cmp -s "$WORK/from_folder.db" "$WORK/from_s3.db" || { echo "bench: the two restores differ" >&2; exit 1; }

  # Copies of the folder's backup into a new folder repository, each tool into its own.
  "$LB" --repo "$WORK/lb_mirror" init >/dev/null
  restic init -q --repo "$WORK/restic_mirror" --from-repo "$WORK/folder" --from-password-file "$WORK/password" --copy-chunker-params
  timed "$WORK/restic_copy" restic -q --repo "$WORK/restic_mirror" copy --from-repo "$WORK/folder" --from-password-file "$WORK/password"
  timed "$WORK/lb_copy" "$LB" --repo "$WORK/folder" copy --all --to "$WORK/lb_mirror" --to-password-file "$WORK/password" --json
  [ "$(restic --repo "$WORK/lb_mirror" snapshots --json | jq length)" = 1 ] || { echo "bench: lifeboat's mirror lacks the snapshot" >&2; exit 1; }
  [ "$(restic --repo "$WORK/restic_mirror" snapshots --json | jq length)" = 1 ] || { echo "bench: restic's mirror lacks the snapshot" >&2; exit 1; }
  echo "bench: run $run done"
done

f_backup=$(col 1 "$WORK/folder_backup"); s_backup=$(col 1 "$WORK/s3_backup")
f_restore=$(col 1 "$WORK/folder_restore"); s_restore=$(col 1 "$WORK/s3_restore")
r_copy=$(col 1 "$WORK/restic_copy"); l_copy=$(col 1 "$WORK/lb_copy")
rss_backup=$(cat "$WORK/folder_backup" "$WORK/s3_backup" "$WORK/folder_restore" "$WORK/s3_restore" | awk '{print $2}' | sort -n | tail -1)
rss_copy=$(awk '{print $2}' "$WORK/lb_copy" | sort -n | tail -1)

cpu
cat <<REPORT

Storage benchmark: $ROWS rows, database $(du -sh "$DB" | cut -f1), $RUNS runs interleaved, medians
  backup              into s3s-fs ${s_backup}s   into a folder ${f_backup}s        ratio $(ratio "$s_backup" "$f_backup")  (target <= 1.3)
  restore             from s3s-fs ${s_restore}s   from a folder ${f_restore}s      ratio $(ratio "$s_restore" "$f_restore")  (no target)
  copy to a mirror    lifeboat copy ${l_copy}s   restic copy ${r_copy}s             ratio $(ratio "$l_copy" "$r_copy")  (target <= 1.0)
  peak RSS            backups and restores $(( rss_backup / 1024 )) MiB, lifeboat copy $(( rss_copy / 1024 )) MiB   (target <= 256 each)
REPORT

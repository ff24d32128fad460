#!/usr/bin/env bash
# PostgreSQL benchmark: lifeboat against what a user would run instead, on a throwaway cluster.
#
# Usage: bench/postgres.sh [SCALE] [MIXED_ROWS]     (defaults: pgbench -s 100, 8000000 rows)
#
# Datasets: `pgbench` (one big table, COPY-bound) and `mixed` (8M realistic rows with a primary
# key and an index). For each, 3 interleaved runs of: pg_dump -Fc, pg_dump | zstd -3 -T0,
# lifeboat backup (fresh repository), pg_restore -j2 of the -Fc file, lifeboat restore into a
# new database. Then ten equal tables, one changed: what the second backup adds. Prints
# medians and ratios; read the ratios, the machine is shared and noisy.
set -euo pipefail
cd "$(dirname "$0")/.."

SCALE=${1:-100}
MIXED_ROWS=${2:-8000000}
RUNS=3
WORK=$(mktemp -d /tmp/lifeboat-bench-pg.XXXXXX)
export LIFEBOAT_PASSWORD=bench

scripts/setup
# LIFEBOAT_BIN measures another build (e.g. an older commit's) instead of this checkout's.
if [ -n "${LIFEBOAT_BIN:-}" ]; then LB=$(realpath "$LIFEBOAT_BIN"); else cargo build --release --locked -q; LB=$PWD/target/release/lifeboat; fi
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)

as_server() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" -eq 0 ] && chown postgres "$WORK"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_server "$BIN/initdb" -D "$WORK/data" -U postgres -A trust -E UTF8 --locale C >/dev/null
as_server "$BIN/pg_ctl" -D "$WORK/data" -l "$WORK/server.log" -w start \
  -o "-p $PORT -k $WORK -c listen_addresses= -c max_wal_size=8GB -c maintenance_work_mem=256MB -c shared_buffers=512MB" >/dev/null
trap 'as_server "$BIN/pg_ctl" -D "$WORK/data" -m immediate stop >/dev/null 2>&1; rm -rf "$WORK"' EXIT
export PGHOST=$WORK PGPORT=$PORT PGUSER=postgres
url() { echo "postgres:///$1?host=$WORK&port=$PORT&user=postgres"; }
psql_() { "$BIN/psql" -X -q -At -v ON_ERROR_STOP=1 "$@"; }

source bench/lib.sh

echo "bench: pgbench -i -s $SCALE"
psql_ -d postgres -c "CREATE DATABASE pgbench"
"$BIN/pgbench" -i -s "$SCALE" -q pgbench >/dev/null 2>&1
echo "bench: mixed, $MIXED_ROWS rows"
psql_ -d postgres -c "CREATE DATABASE mixed"
psql_ -d mixed <<SQL
CREATE TABLE events AS
WITH w(a) AS (SELECT ARRAY['invoice','paid','refund','pending','customer','order','shipped','late','monthly','plan',
  'upgrade','card','declined','retry','bank','transfer','fee','credit','note','account'])
SELECT g AS id, (random() * 1e6)::int AS account, round((random() * 1e5)::numeric, 2) AS amount,
       (random() * 9)::int AS status, now() - random() * interval '365 days' AS ts, md5(random()::text) AS token,
       concat_ws(' ', a[1 + (random() * 19)::int], a[1 + (random() * 19)::int], a[1 + (random() * 19)::int],
                 CASE WHEN g % 6 >= 1 THEN a[1 + (random() * 19)::int] END, CASE WHEN g % 6 >= 2 THEN a[1 + (random() * 19)::int] END,
                 CASE WHEN g % 6 >= 3 THEN a[1 + (random() * 19)::int] END, CASE WHEN g % 6 >= 4 THEN a[1 + (random() * 19)::int] END,
                 CASE WHEN g % 6 >= 5 THEN a[1 + (random() * 19)::int] END) AS note
FROM generate_series(1, $MIXED_ROWS) g, w;
ALTER TABLE events ADD PRIMARY KEY (id);
CREATE INDEX events_account ON events (account);
VACUUM ANALYZE events;
SQL

report=()
for db in pgbench mixed; do
  size=$(psql_ -d "$db" -c "SELECT pg_size_pretty(pg_database_size(current_database()))")
  for run in $(seq $RUNS); do
    timed "$WORK/$db.dump_fc" "$BIN/pg_dump" -Fc -f "$WORK/$db.dump" "$db"
    timed "$WORK/$db.dump_zstd" bash -c "'$BIN/pg_dump' '$db' | zstd -q -3 -T0 > '$WORK/$db.sql.zst'"
    rm -rf "$WORK/repo-$db"
    "$LB" --repo "$WORK/repo-$db" init >/dev/null
    timed "$WORK/$db.lb_backup" "$LB" --repo "$WORK/repo-$db" backup "$(url "$db")" --json
    du -sb "$WORK/repo-$db" | cut -f1 >>"$WORK/$db.lb_bytes"
    stat -c %s "$WORK/$db.dump" >>"$WORK/$db.fc_bytes"

    psql_ -d postgres -c "DROP DATABASE IF EXISTS r_pg" -c "CREATE DATABASE r_pg"
    timed "$WORK/$db.pg_restore" "$BIN/pg_restore" -j2 -d r_pg "$WORK/$db.dump"
    psql_ -d postgres -c "DROP DATABASE IF EXISTS r_lb"
    timed "$WORK/$db.lb_restore" "$LB" --repo "$WORK/repo-$db" restore latest --to "$(url r_lb)" --json
    echo "bench: $db run $run done"
  done
  psql_ -d postgres -c "DROP DATABASE IF EXISTS r_pg" -c "DROP DATABASE IF EXISTS r_lb"
  fc=$(col 1 "$WORK/$db.dump_fc"); zs=$(col 1 "$WORK/$db.dump_zstd"); lb=$(col 1 "$WORK/$db.lb_backup")
  pr=$(col 1 "$WORK/$db.pg_restore"); lr=$(col 1 "$WORK/$db.lb_restore")
  lbytes=$(median <"$WORK/$db.lb_bytes"); fbytes=$(median <"$WORK/$db.fc_bytes")
  rss=$(cat "$WORK/$db.lb_backup" "$WORK/$db.lb_restore" | awk '{print $2}' | sort -n | tail -1)
  report+=("$db ($size):"
    "  backup    lifeboat ${lb}s  pg_dump -Fc ${fc}s  ratio $(ratio "$lb" "$fc")   pg_dump|zstd ${zs}s  ratio $(ratio "$lb" "$zs")"
    "  stored    lifeboat $lbytes bytes  pg_dump -Fc $fbytes bytes  ratio $(ratio "$lbytes" "$fbytes")"
    "  restore   lifeboat ${lr}s  pg_restore -j2 ${pr}s  ratio $(ratio "$lr" "$pr")"
    "  peak RSS  $(( rss / 1024 )) MiB (lifeboat, backup and restore)")
done

echo "bench: ten equal tables, one changed"
psql_ -d postgres -c "CREATE DATABASE ten"
for i in $(seq 0 9); do
  psql_ -d ten -c "CREATE TABLE t$i AS SELECT g AS id, md5(g::text || '$i') AS token, (random() * 1e6)::int AS n FROM generate_series(1, 300000) g"
done
"$LB" --repo "$WORK/repo-ten" init >/dev/null
"$LB" --repo "$WORK/repo-ten" backup "$(url ten)" --json >/dev/null
first=$(du -sb "$WORK/repo-ten" | cut -f1)
psql_ -d ten -c "UPDATE t3 SET n = n + 1"
"$LB" --repo "$WORK/repo-ten" backup "$(url ten)" --json >/dev/null
added=$(( $(du -sb "$WORK/repo-ten" | cut -f1) - first ))

echo
cpu
echo "PostgreSQL benchmark: $RUNS runs interleaved, medians (targets: mixed backup <= 0.35x pg_dump -Fc and <= 1.2x pg_dump|zstd;"
echo "pgbench backup <= 1.0x pg_dump -Fc; stored <= 1.0x; restore <= 1.0x pg_restore -j2; one of ten tables changed <= 0.15; RSS <= 256 MiB)"
printf '%s\n' "${report[@]}"
echo "ten tables, one changed: second backup added $added bytes, first $first bytes, ratio $(ratio "$added" "$first")"

# Helpers shared by the benchmarks; sourced, needs $WORK (a scratch folder).

# timed OUT CMD...: runs CMD, appends "seconds max_rss_kib" to OUT.
timed() {
  local out=$1; shift
  /usr/bin/time -f "%e %M" -o "$WORK/time.tmp" "$@" >/dev/null
  cat "$WORK/time.tmp" >>"$out"
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# col N FILE: the median of column N.
col() { awk -v c="$1" '{print $c}' "$2" | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

# cpu: the processor and whether it has the instructions SHA-256 and AES use (figures from
# machines with and without them are not comparable).
cpu() {
  local flag
  printf 'cpu: %s, %s cores;' "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)" "$(nproc)"
  for flag in sha_ni aes avx2; do
    printf ' %s %s' "$flag" "$(grep -qw "$flag" /proc/cpuinfo && echo yes || echo no)"
  done
  echo
}

# make_db FILE ROWS: realistic rows in WAL mode (id, account, amount, status, 32-hex token,
# a note of 3-8 words).
make_db() {
  local words='["invoice","paid","refund","pending","customer","order","shipped","late","monthly","plan","upgrade","card","declined","retry","bank","transfer","fee","credit","note","account"]'
  local note="json_extract('$words', '\$[' || (abs(random()) % 20) || ']')"
  for i in 4 5 6 7 8; do
    note="$note || CASE WHEN k >= $i THEN ' ' || json_extract('$words', '\$[' || (abs(random()) % 20) || ']') ELSE '' END"
  done
  note="json_extract('$words', '\$[' || (abs(random()) % 20) || ']') || ' ' || json_extract('$words', '\$[' || (abs(random()) % 20) || ']') || ' ' || $note"
  sqlite3 "$1" <<SQL >/dev/null
PRAGMA journal_mode=WAL;
CREATE TABLE payments(id INTEGER PRIMARY KEY, account INT NOT NULL, amount REAL NOT NULL,
  status INT NOT NULL, token TEXT NOT NULL, note TEXT NOT NULL);
WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < $2),
  r(n, k) AS (SELECT n, 3 + abs(random()) % 6 FROM g)
INSERT INTO payments
SELECT n, abs(random()) % 1000000, round(abs(random()) % 10000000 / 100.0, 2), abs(random()) % 9,
       lower(hex(randomblob(16))), $note
FROM r;
CREATE INDEX payments_account ON payments(account);
SQL
}

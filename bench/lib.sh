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

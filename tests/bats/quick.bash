# quick.bash - `quick CMD...`: runs CMD like bats' `run` and fails unless it
# failed (or succeeded) at once: under a second of wall time, or, on a
# machine so loaded that wall time says nothing, under a second of CPU time
# (a run that did its work before failing spends many seconds of CPU).
quick() {
  local t="$BATS_FILE_TMPDIR/quick.time" real cpu u s
  run /usr/bin/time -f '%e %U %S' -o "$t" "$@"
  read -r real u s < <(tail -n 1 "$t")
  cpu=$(awk -v u="$u" -v s="$s" 'BEGIN{print u + s}')
  echo "$* -> $status in ${real} s (${cpu} s CPU): $output"
  awk -v r="$real" -v c="$cpu" 'BEGIN{exit !(r < 1 || c < 1)}'
}

#!/usr/bin/env bash
# On the 16-core machine, after prepare.sh: every build of sluice in .devbin (sluice and any
# sluice-NAME beside it, made here from a patched tree to test one idea) beside nginx and the
# naive fasthttp proxy, taking turns at each width, in lib.sh's layout and with its per-run
# line. WIDTHS (default "0 0-3 0-7") are the proxy's cores; ROUNDS (default 4: adjacent
# runs differ by up to a quarter at 1 core). Even rounds run the builds in reverse order,
# so that none always runs first. 256 connections. About 6 s a run. Appends to
# $OUT/variants.txt.
LOG=variants.txt; . "$(dirname "$0")/lib.sh"
builds=()
for b in .devbin/sluice .devbin/sluice-*; do [ -x "$b" ] && builds+=("$b"); done
for round in $(seq "${ROUNDS:-4}"); do
  order=("${builds[@]}")
  if (( round % 2 == 0 )); then
    order=(); for (( i=${#builds[@]}-1; i>=0; i-- )); do order+=("${builds[i]}"); done
  fi
  for cores in ${WIDTHS:-0 0-3 0-7}; do
    n=$(taskset -c "$cores" nproc)
    nginx "$cores" "$n"; naive "$cores" "$n" 256
    for b in "${order[@]}"; do sl "$cores" "$n" 256 "$b"; done
  done
done

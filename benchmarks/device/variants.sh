#!/usr/bin/env bash
# On the 16-core machine, after prepare.sh: every build of sluice in .devbin (sluice and any
# sluice-NAME beside it, made here from a patched tree to test one idea) beside nginx and the
# naive fasthttp proxy, taking turns at each width, in lib.sh's layout and with its per-run
# line. WIDTHS (default "0 0-3 0-7") are the proxy's cores; ROUNDS (default 2). 256
# connections. About 6 s a run. Appends to $OUT/variants.txt.
LOG=variants.txt; . "$(dirname "$0")/lib.sh"
for round in $(seq "${ROUNDS:-2}"); do
  for cores in ${WIDTHS:-0 0-3 0-7}; do
    n=$(taskset -c "$cores" nproc)
    nginx "$cores" "$n"; naive "$cores" "$n" 256
    for b in .devbin/sluice .devbin/sluice-*; do [ -x "$b" ] && sl "$cores" "$n" 256 "$b"; done
  done
done

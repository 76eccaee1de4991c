#!/usr/bin/env bash
# On the 16-core machine, after prepare.sh: where sluice's requests per second go at 1 to 8
# cores, for sluice at several GOMAXPROCS, the naive fasthttp proxy (benchmarks/naive) and
# nginx, in lib.sh's layout and with its per-run line. Two rounds, about 3 minutes. Appends
# to $OUT/diag.txt.
. "$(dirname "$0")/lib.sh"
for round in 1 2; do
  nginx 0 1; nginx 0-1 2; nginx 0-7 8
  sl 0 1 256; naive 0 1 256
  sl 0-1 2 256; sl 0-1 3 256; naive 0-1 2 256; sl 0-1 2 128
  sl 0-3 4 256; naive 0-3 4 256
  sl 0-7 8 256; naive 0-7 8 256
done

#!/usr/bin/env bash
# On the 16-core machine, after prepare.sh: the workplace's scale.sh three times (256
# connections, 64, then 256 again), sluice beside nginx and HAProxy at 1, 2, 4 and 8 proxy
# cores. About 4 minutes. Writes scale-RUN.txt and .csv under $OUT.
cd "$(dirname "$0")/../.." || exit 1
: "${OUT:=$(mktemp -d)}"
[ -f .devbin/bins.tar.xz ] && [ ! -x .devbin/sluice ] && tar xJf .devbin/bins.tar.xz -C .devbin
nproc; grep -m1 'model name' /proc/cpuinfo
for run in 256a 64 256b; do
  echo "== conns=${run%[ab]} ($run) $(date -u +%T)"
  CONNS=${run%[ab]} OUT=$OUT bash .devbench/scale.sh .devbench .devbin/backend .devbin/sluice 2>&1 | tee "$OUT/scale-$run.txt"
  mv "$OUT/scale.csv" "$OUT/scale-$run.csv"
done

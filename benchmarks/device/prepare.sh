#!/usr/bin/env bash
# Prepares a run on the workplace's borrowed 16-core machine, where nothing can be installed
# (docs/benchmarks.md "On 16 cores"). From the repository root, on the build machine:
#   bash benchmarks/device/prepare.sh [../shared/device-bench]
# It bundles wrk, nginx and haproxy with their libraries into .devbench (the workplace's
# bundle.sh), copies its scale.sh there, builds sluice, the backend and the naive proxy
# statically into .devbin, and keeps both folders out of git. Send .devbench and .devbin with
# the tree, then run scale.sh or diag.sh (beside this file) there.
set -euo pipefail
shared=${1:-../shared/device-bench}
"$shared/bundle.sh" .devbench
cp "$shared/scale.sh" .devbench/
mkdir -p .devbin
for p in sluice:./cmd/sluice backend:./benchmarks/backend naive:./benchmarks/naive; do
  CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o ".devbin/${p%%:*}" "${p#*:}"
done
for d in /.devbench/ /.devbin/; do
  grep -qxF "$d" .git/info/exclude || echo "$d" >> .git/info/exclude
done
du -sh .devbench .devbin

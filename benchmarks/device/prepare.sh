#!/usr/bin/env bash
# Prepares a run on the workplace's borrowed 16-core machine, where nothing can be installed
# (docs/benchmarks.md "On 16 cores"). From the repository root, on the build machine:
#   bash benchmarks/device/prepare.sh [../shared/device-bench] [NAME=TREE ...]
# It bundles wrk, nginx and haproxy with their libraries into .devbench (the workplace's
# bundle.sh), copies its scale.sh there, builds sluice, the backend and the naive proxy
# statically, and packs them into .devbin/bins.tar.xz (the machine takes 64 MiB of tree, and
# each binary is 12 MiB); lib.sh unpacks it there. Each NAME=TREE also builds TREE's
# ./cmd/sluice (a patched git worktree, say) as sluice-NAME, which variants.sh runs beside
# sluice. Both folders stay out of git. Send .devbench and .devbin with the tree, then run
# scale.sh, diag.sh or variants.sh (beside this file) there.
set -euo pipefail
shared=${1:-../shared/device-bench}
[ $# -gt 0 ] && shift
"$shared/bundle.sh" .devbench
cp "$shared/scale.sh" .devbench/
rm -rf .devbin; mkdir -p .devbin
build() { (cd "$2" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$1" "$3"); }
build "$PWD/.devbin/sluice" . ./cmd/sluice
build "$PWD/.devbin/backend" . ./benchmarks/backend
build "$PWD/.devbin/naive" . ./benchmarks/naive
for v in "$@"; do build "$PWD/.devbin/sluice-${v%%=*}" "${v#*=}" ./cmd/sluice; done
(cd .devbin && tar cJf bins.tar.xz --remove-files backend naive sluice*)
for d in /.devbench/ /.devbin/; do
  grep -qxF "$d" .git/info/exclude || echo "$d" >> .git/info/exclude
done
du -sh .devbench .devbin

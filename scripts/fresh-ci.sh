#!/usr/bin/env bash
# Runs .ci/run as a new machine would: a clone of the committed HEAD in a
# temporary folder, empty Go module and build caches, an empty GOPATH (so
# `go install`ed tools are installed anew) and an empty npm cache. Prints the
# elapsed time. Uncommitted changes are not part of the check: commit first.
#
#   scripts/fresh-ci.sh [--keep]   # --keep leaves the folder for a look afterwards
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
keep=false
[ "${1:-}" = --keep ] && keep=true

work=$(mktemp -d "${TMPDIR:-/tmp}/fresh-ci.XXXXXX")
cleanup() {
  if $keep; then echo "left in place: $work"; return; fi
  chmod -R u+w "$work" 2>/dev/null || true # the module cache is read-only
  rm -rf "$work"
}
trap cleanup EXIT

if [ -n "$(git -C "$repo" status --porcelain)" ]; then
  echo "fresh-ci: uncommitted changes are not checked; this runs HEAD $(git -C "$repo" rev-parse --short HEAD)" >&2
fi
git clone --quiet --no-local "$repo" "$work/src"
git -C "$work/src" checkout --quiet "$(git -C "$repo" rev-parse HEAD)"
# CI has shared/ beside the clone, as the session does.
[ -d "$repo/../shared" ] && cp -r "$repo/../shared" "$work/shared"
mkdir -p "$work/gomodcache" "$work/gocache" "$work/gopath" "$work/npm-cache" "$work/tmp"

start=$(date +%s)
status=0
(
  cd "$work/src"
  env -u GOFLAGS CI=true \
    GOMODCACHE="$work/gomodcache" GOCACHE="$work/gocache" GOPATH="$work/gopath" \
    npm_config_cache="$work/npm-cache" TMPDIR="$work/tmp" \
    bash .ci/run
) || status=$?
elapsed=$(($(date +%s) - start))
printf '\nfresh-ci: .ci/run exited %d after %dm%02ds (%d s) from empty caches, HEAD %s\n' \
  "$status" $((elapsed / 60)) $((elapsed % 60)) "$elapsed" "$(git -C "$repo" rev-parse --short HEAD)"
exit "$status"

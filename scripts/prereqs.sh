#!/usr/bin/env bash
# Installs the Debian packages that a make target runs for real, named by
# the commands it needs (scripts/prereqs.sh redis-server cc): redis-server
# (the cache tests), cc (gcc: go test -race needs cgo), wrk (benchmarks).
# Does nothing when they are already there; needs root (or sudo) otherwise.
set -euo pipefail
need=()
for cmd in "$@"; do
  command -v "$cmd" >/dev/null && continue
  case "$cmd" in
    cc) need+=(gcc libc6-dev) ;;
    *) need+=("$cmd") ;;
  esac
done
[ ${#need[@]} -eq 0 ] && exit 0
sudo=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "prereqs: please install: ${need[*]}" >&2; exit 1; }
  sudo=sudo
fi
echo "prereqs: installing ${need[*]}" >&2
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2

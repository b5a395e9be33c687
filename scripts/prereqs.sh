#!/usr/bin/env bash
# Installs the Debian packages the tests and the dev stack run for real:
# redis-server (cache tests) and wrk (benchmarks). Does nothing when they are
# already there; needs root (or sudo) otherwise.
set -euo pipefail
need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v wrk >/dev/null || need+=(wrk)
command -v make >/dev/null || need+=(make)
[ ${#need[@]} -eq 0 ] && exit 0
sudo=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "prereqs: please install: ${need[*]}" >&2; exit 1; }
  sudo=sudo
fi
echo "prereqs: installing ${need[*]}" >&2
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2

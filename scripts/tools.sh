# tools.sh — source me: `. scripts/tools.sh` (bash).
# Exports PREVIEWGATE_CACHE, GOPROXY, TRAEFIK_VERSION, TRAEFIK_BIN and YAEGI_BIN, building or
# installing the pinned Traefik and yaegi into the cache on first use (Traefik: ~8 min cold on
# 2 cores, peak RSS ~3.3 GB; then instant). Set PREVIEWGATE_TOOLS_LAZY=1 to only export the
# variables without building anything.
# shellcheck shell=bash

_pg_scripts="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

export TRAEFIK_VERSION="${TRAEFIK_VERSION:-v3.7.13}"
export GOPROXY="${PREVIEWGATE_GOPROXY:-https://proxy.golang.org}"
if [ -z "${PREVIEWGATE_CACHE:-}" ]; then
	PREVIEWGATE_CACHE="$(go env GOCACHE)/previewgate"
fi
export PREVIEWGATE_CACHE

if [ "${PREVIEWGATE_TOOLS_LAZY:-0}" = 1 ]; then
	export TRAEFIK_BIN="$PREVIEWGATE_CACHE/traefik-$TRAEFIK_VERSION/traefik"
	export YAEGI_BIN="$PREVIEWGATE_CACHE/yaegi-${YAEGI_VERSION:-v0.16.1}/yaegi"
else
	TRAEFIK_BIN="$("$_pg_scripts/build-traefik.sh")" || return 1 2>/dev/null || exit 1
	YAEGI_BIN="$("$_pg_scripts/install-yaegi.sh")" || return 1 2>/dev/null || exit 1
	export TRAEFIK_BIN YAEGI_BIN
fi
unset _pg_scripts

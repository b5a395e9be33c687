#!/usr/bin/env bash
# install-yaegi.sh — install the yaegi CLI at the version the pinned Traefik bundles.
#
# Usage:   YAEGI=$(scripts/install-yaegi.sh [YAEGI_VERSION])
# Output:  only the binary path on stdout; progress goes to stderr.
# Binary:  ${PREVIEWGATE_CACHE:-$(go env GOCACHE)/previewgate}/yaegi-<version>/yaegi
#
# The version is, in order: the first argument, $YAEGI_VERSION, the github.com/traefik/yaegi
# requirement in the go.mod of github.com/traefik/traefik/v3@$TRAEFIK_VERSION (default
# v3.7.13, read through the module proxy / module cache), or the pin below if that fails.
set -euo pipefail

TRAEFIK_VERSION="${TRAEFIK_VERSION:-v3.7.13}"
YAEGI_PIN=v0.16.1 # what Traefik v3.7.13 bundles (its go.mod)

log() { printf 'install-yaegi: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

command -v go >/dev/null 2>&1 || die "go is not on PATH"
export GOPROXY="${PREVIEWGATE_GOPROXY:-https://proxy.golang.org}"
export GOWORK=off
export CGO_ENABLED=0
export GOFLAGS=-buildvcs=false

if [ -z "${PREVIEWGATE_CACHE:-}" ]; then
	gocache="$(go env GOCACHE)"
	case "$gocache" in "" | off) die "GOCACHE is '$gocache'; set PREVIEWGATE_CACHE" ;; esac
	PREVIEWGATE_CACHE="$gocache/previewgate"
fi

VERSION="${1:-${YAEGI_VERSION:-}}"
if [ -z "$VERSION" ]; then
	# `go mod download` answers from the module cache when the version is already there.
	# shellcheck disable=SC2015 # "|| true" on purpose: fall back to the pin below
	gomod="$(cd / && go mod download -json "github.com/traefik/traefik/v3@$TRAEFIK_VERSION" 2>/dev/null |
		sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p' | head -n1 || true)"
	if [ -n "$gomod" ] && [ -f "$gomod" ]; then
		VERSION="$(awk '$1 == "github.com/traefik/yaegi" { print $2; exit }
			$1 == "require" && $2 == "github.com/traefik/yaegi" { print $3; exit }' "$gomod")"
	fi
	if [ -z "$VERSION" ]; then
		log "could not read the yaegi version from traefik $TRAEFIK_VERSION's go.mod; using the pin $YAEGI_PIN"
		VERSION="$YAEGI_PIN"
	fi
fi

OUT_DIR="$PREVIEWGATE_CACHE/yaegi-$VERSION"
BIN="$OUT_DIR/yaegi"

# The module version recorded in the binary's build info ("mod github.com/traefik/yaegi v0.16.1 h1:…").
have_binary() {
	[ -x "$BIN" ] && go version -m "$BIN" 2>/dev/null |
		awk -v v="$VERSION" '$1 == "mod" && $2 == "github.com/traefik/yaegi" && $3 == v { ok = 1 } END { exit !ok }'
}

if have_binary; then
	printf '%s\n' "$BIN"
	exit 0
fi

mkdir -p "$OUT_DIR"
if command -v flock >/dev/null 2>&1; then
	exec 9>"$OUT_DIR/.lock"
	flock -n 9 || { log "waiting for the lock $OUT_DIR/.lock"; flock 9; }
	if have_binary; then
		printf '%s\n' "$BIN"
		exit 0
	fi
fi

log "go install github.com/traefik/yaegi/cmd/yaegi@$VERSION (GOPROXY=$GOPROXY)"
(cd / && GOBIN="$OUT_DIR" go install -ldflags "-s -w" "github.com/traefik/yaegi/cmd/yaegi@$VERSION") >&2 ||
	die "go install failed"
have_binary || die "$BIN does not report github.com/traefik/yaegi $VERSION"
printf '%s\n' "$BIN"

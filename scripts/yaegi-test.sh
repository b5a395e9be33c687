#!/usr/bin/env bash
# Runs the plugin's unit tests (and, with arguments, its benchmarks) under the Yaegi version that the pinned
# Traefik bundles, the way Traefik loads the plugin: GOPATH mode, standard
# library symbols only.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
yaegi=${YAEGI_BIN:-$("$root/scripts/install-yaegi.sh")}
gopath=$(mktemp -d)
trap 'rm -rf "$gopath"' EXIT
pkg=$gopath/src/github.com/previewgate/previewgate/plugin
mkdir -p "$pkg"
# Fuzz targets and the source checks are compiled-Go tools; Yaegi runs the
# ordinary tests.
find "$root/plugin" -maxdepth 1 -name '*.go' ! -name 'fuzz_test.go' ! -name 'yaegi_rules_test.go' -exec cp {} "$pkg/" \;
cd "$gopath"
# Arguments replace -v, e.g. the interpreted benchmarks:
#   scripts/yaegi-test.sh -run XXX -bench . -benchtime 20000x
[ $# -gt 0 ] || set -- -v
GOPATH=$gopath GO111MODULE=off GOFLAGS= "$yaegi" test "$@" github.com/previewgate/previewgate/plugin

#!/usr/bin/env bash
# Runs the plugin's unit tests under the Yaegi version that the pinned
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
GOPATH=$gopath GO111MODULE=off GOFLAGS= "$yaegi" test -v github.com/previewgate/previewgate/plugin

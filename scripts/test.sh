#!/usr/bin/env bash
# The one command that runs every test (make test). It installs or builds
# what the tests run for real first: redis-server and a C compiler (for
# -race) from Debian, Traefik and Yaegi from the Go module proxy (cached
# under the Go build cache).
set -euo pipefail
cd "$(dirname "$0")/.."
export GOPROXY=${PREVIEWGATE_GOPROXY:-https://proxy.golang.org}
export GOFLAGS=-mod=mod

scripts/prereqs.sh redis-server cc
TRAEFIK_BIN=$(scripts/build-traefik.sh)
YAEGI_BIN=$(scripts/install-yaegi.sh)
export TRAEFIK_BIN YAEGI_BIN
echo "traefik: $TRAEFIK_BIN" >&2
echo "yaegi:   $YAEGI_BIN" >&2

echo "== static checks" >&2
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt would change: $unformatted" >&2; exit 1; fi
go vet ./...
nonstd=$(go list -deps -f '{{if not .Standard}}{{.ImportPath}}{{end}}' ./plugin | grep -vx 'github.com/previewgate/previewgate/plugin' || true)
if [ -n "$nonstd" ]; then echo "plugin/ must use the standard library only: $nonstd" >&2; exit 1; fi

echo "== plugin under Yaegi" >&2
scripts/yaegi-test.sh

echo "== go test" >&2
# The plugin and the resolver under the race detector; everything else
# (simulator, compose checks, end-to-end tests through real Traefik) without.
go test -count=1 -race ./plugin/... ./resolver-svc/...
go test -count=1 $(go list ./... | grep -v -e '/plugin$' -e '/resolver-svc/')

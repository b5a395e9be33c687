#!/usr/bin/env bash
# Compares the Go benchmarks of a revision (default HEAD) with the working
# tree, with benchstat: the plugin compiled and under Yaegi (what Traefik
# pays), the resolver's decision path and its HTTP layer.
#
#   scripts/benchcmp.sh [REV]
#
# Throughput through the real Traefik is `make bench`; this is the quick
# check of one change's cost.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rev=${1:-HEAD}
export GOPROXY=${PREVIEWGATE_GOPROXY:-https://proxy.golang.org} GOFLAGS=-mod=mod
benchstat_pkg=golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da
yaegi=${YAEGI_BIN:-$("$root/scripts/install-yaegi.sh")}
out=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$out/base" >/dev/null 2>&1 || true; rm -rf "$out"' EXIT
git -C "$root" worktree add --detach "$out/base" "$rev" >/dev/null

run() { # dir name
	(cd "$1" &&
		go test -run XXX -bench . -benchmem -benchtime 20000x -count 6 ./plugin ./resolver-svc/internal/decide ./resolver-svc/internal/server &&
		YAEGI_BIN=$yaegi scripts/yaegi-test.sh -run XXX -bench . -benchtime 20000x -count 6 | sed 's/^Benchmark/BenchmarkYaegi/'
	) >"$out/$2.txt" 2>&1 || { tail -20 "$out/$2.txt" >&2; exit 1; }
}
echo "benchmarking $rev ..." >&2
run "$out/base" old
echo "benchmarking the working tree ..." >&2
run "$root" new
go run "$benchstat_pkg" "$out/old.txt" "$out/new.txt"

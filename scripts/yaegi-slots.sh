#!/usr/bin/env bash
# Counts the frame slots of the plugin's interpreted functions, as Traefik's
# Yaegi allocates them: every call allocates one slot (a reflect.New) for
# every variable and every intermediate value of the function called, run
# or not, and that is most of what a request costs the plugin (README,
# "Performance").
#
#   scripts/yaegi-slots.sh [BENCH_REGEX]     one line per function called: "SLOTS <name> <count>"
#   SLOTS=v scripts/yaegi-slots.sh HitPublic  also each slot's type and the nodes that use it
#
# It builds, once, a copy of the yaegi CLI at the pinned version with a
# report before each frame allocation, and runs the plugin's benchmarks
# matching BENCH_REGEX (default HitPublic) once under it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# The version scripts/install-yaegi.sh installs (the one the pinned Traefik
# bundles): its binary's folder is yaegi-<version>.
plain=$("$root/scripts/install-yaegi.sh")
version=$(basename "$(dirname "$plain")")
version=${version#yaegi-}
export GOPROXY=${PREVIEWGATE_GOPROXY:-https://proxy.golang.org} GOWORK=off GOFLAGS=-mod=mod
cache=${PREVIEWGATE_CACHE:-$(go env GOCACHE)/previewgate}/yaegi-slots-$version
bin=$cache/yaegi
if [ ! -x "$bin" ]; then
	src=$(cd / && go mod download -json "github.com/traefik/yaegi@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
	[ -d "$src" ] || { echo "yaegi-slots: no source for yaegi $version" >&2; exit 1; }
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
	cp -r "$src" "$work/yaegi"
	chmod -R u+w "$work/yaegi"
	cat >"$work/yaegi/interp/slots_report.go" <<'EOF'
package interp

import (
	"fmt"
	"os"
	"sync"
)

var slotsSeen sync.Map

// slotReport prints a function's frame size the first time it is called.
func slotReport(def *node) {
	mode := os.Getenv("YAEGI_SLOTS")
	if mode == "" {
		return
	}
	if _, seen := slotsSeen.LoadOrStore(def, true); seen {
		return
	}
	name := "?"
	if len(def.child) > 1 && def.child[1] != nil {
		name = def.child[1].ident
	}
	fmt.Fprintf(os.Stderr, "SLOTS %s %d\n", name, len(def.types))
	if mode != "v" {
		return
	}
	users := map[int][]string{}
	def.Walk(func(n *node) bool {
		if n.level == 0 && n.findex >= 0 && n.findex < len(def.types) {
			users[n.findex] = append(users[n.findex], fmt.Sprintf("%s:%s %q", n.kind, n.action, n.ident))
		}
		return true
	}, nil)
	for i, t := range def.types {
		fmt.Fprintf(os.Stderr, "  %3d %-24v %v\n", i, t, users[i])
	}
}
EOF
	run=$work/yaegi/interp/run.go
	sed -i 's/^\([[:space:]]*\)\(fr := newFrame(f, len(def.types), f.runid())\)$/\1slotReport(def)\n\1\2/;
		s/^\([[:space:]]*\)\(nf := newFrame(f, len(def.types), f.runid())\)$/\1slotReport(def)\n\1\2/' "$run"
	[ "$(grep -c 'slotReport(def)' "$run")" = 2 ] || { echo "yaegi-slots: yaegi $version's run.go has changed; the report was not inserted" >&2; exit 1; }
	mkdir -p "$cache"
	(cd "$work/yaegi" && CGO_ENABLED=0 go build -o "$bin" ./cmd/yaegi)
fi
YAEGI_SLOTS=${SLOTS:-1} YAEGI_BIN=$bin "$root/scripts/yaegi-test.sh" -run XXX -bench "${1:-HitPublic}" -benchtime 1x 2>&1 |
	awk '/^SLOTS /{ if (seen[$0]++) skip = 1; else { skip = 0; print }; next } /^  / { if (!skip) print }'

#!/usr/bin/env bash
# build-traefik.sh — build a pinned Traefik binary from the Go module proxy.
#
# Usage:   TRAEFIK=$(scripts/build-traefik.sh [VERSION])
# Output:  only the binary path on stdout; progress goes to stderr.
# Binary:  ${PREVIEWGATE_CACHE:-$(go env GOCACHE)/previewgate}/traefik-<version>/traefik
#
# Environment:
#   TRAEFIK_VERSION        version to build (default v3.7.13; the first argument wins)
#   PREVIEWGATE_CACHE      cache root (default: $(go env GOCACHE)/previewgate, outside the repo)
#   PREVIEWGATE_GOPROXY    module proxy (default https://proxy.golang.org; never ",direct")
#   LEGO_DNS_KEEP          ACME DNS-01 providers kept in the trimmed lego copy (default "exec manual")
#   PREVIEWGATE_KEEP_BUILD=1  keep the throwaway build module after a successful build
#
# Why not `go install github.com/traefik/traefik/v3/cmd/traefik@VERSION`: Traefik's go.mod
# has replace directives, which `go install pkg@version` refuses. We therefore build from a
# throwaway main module that requires Traefik and copies its replace/exclude directives, with
# these workarounds:
#   1. github.com/traefik/traefik/dynamic/ext is a nested module that Traefik replaces with
#      ./pkg/config/dynamic/ext; nested modules are not in the module zip, so we write a stub
#      with the same (empty) types as OSS Traefik.
#   2. The ACME DNS-01 registry of lego (providers/dns) imports ~200 DNS provider SDKs, some of
#      whose versions the proxy refuses (403). We replace lego with a copy from the module cache
#      whose providers/dns registry keeps only $LEGO_DNS_KEEP (stdlib-only providers).
#   3. Replace targets the proxy refuses get a fallback pin (go-http-auth: the v3.6.12 pin).
#   4. `GOFLAGS=-mod=mod go build` resolves only the build graph; `go mod tidy` is not run
#      (it would fetch the test dependencies of every module, more refused zips).
# The result is for local development and tests only: production uses the official image.
set -euo pipefail

VERSION="${1:-${TRAEFIK_VERSION:-v3.7.13}}"
LEGO_DNS_KEEP="${LEGO_DNS_KEEP:-exec manual}"
TRAEFIK_MOD=github.com/traefik/traefik/v3

# Replace targets the proxy refuses -> fallback version (same module path).
declare -A FALLBACK=(
	[github.com/containous/go-http-auth]="${TRAEFIK_GO_HTTP_AUTH_FALLBACK:-v0.4.1-0.20200324110947-a37a7636d23e}"
)

log() { printf 'build-traefik: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

command -v go >/dev/null 2>&1 || die "go is not on PATH"
case "$VERSION" in v[0-9]*) ;; *) die "version must look like v3.7.13, got '$VERSION'" ;; esac

export GOPROXY="${PREVIEWGATE_GOPROXY:-https://proxy.golang.org}"
export GOWORK=off
export CGO_ENABLED=0
export GOFLAGS="-mod=mod -buildvcs=false"

if [ -z "${PREVIEWGATE_CACHE:-}" ]; then
	gocache="$(go env GOCACHE)"
	case "$gocache" in "" | off) die "GOCACHE is '$gocache'; set PREVIEWGATE_CACHE" ;; esac
	PREVIEWGATE_CACHE="$gocache/previewgate"
fi
OUT_DIR="$PREVIEWGATE_CACHE/traefik-$VERSION"
BIN="$OUT_DIR/traefik"

# `traefik version` prints e.g. "Version:      v3.7.13".
have_binary() {
	[ -x "$BIN" ] && "$BIN" version 2>/dev/null | awk -v v="$VERSION" '$1 == "Version:" && $2 == v { ok = 1 } END { exit !ok }'
}

if have_binary; then
	printf '%s\n' "$BIN"
	exit 0
fi

mkdir -p "$OUT_DIR"
if command -v flock >/dev/null 2>&1; then
	exec 9>"$OUT_DIR/.lock"
	flock -n 9 || { log "waiting for the build lock $OUT_DIR/.lock"; flock 9; }
	if have_binary; then # another process built it meanwhile
		printf '%s\n' "$BIN"
		exit 0
	fi
fi

start=$(date +%s)

# json_field FIELD < `go mod download -json` output
json_field() { sed -n "s/^[[:space:]]*\"$1\": \"\(.*\)\",\{0,1\}\$/\1/p" | head -n1; }

# mod_download MODULE@VERSION -> prints the module's Dir; fails on a proxy error.
mod_download() {
	local out err
	# shellcheck disable=SC2015 # "|| true" on purpose: a proxy error is read from the JSON below
	out="$(cd / && GOFLAGS='' go mod download -json "$1" 2>/dev/null || true)"
	err="$(printf '%s\n' "$out" | json_field Error)"
	if [ -n "$err" ] || [ -z "$(printf '%s\n' "$out" | json_field Dir)" ]; then
		log "go mod download $1: ${err:-failed}"
		return 1
	fi
	printf '%s\n' "$out" | json_field Dir
}

log "downloading $TRAEFIK_MOD@$VERSION (GOPROXY=$GOPROXY)"
TDIR="$(mod_download "$TRAEFIK_MOD@$VERSION")" || die "cannot download $TRAEFIK_MOD@$VERSION"
TGOMOD="$TDIR/go.mod"

# Requires Go >= the go directive of Traefik's go.mod (the main module copies it, so the
# binary gets the same GODEBUG defaults as an official build).
GO_DIRECTIVE="$(awk '$1 == "go" { print $2; exit }' "$TGOMOD")"
gover="$(go env GOVERSION)"
gover="${gover#go}"
if [ "$(printf '%s\n%s\n' "$GO_DIRECTIVE" "$gover" | sort -V | head -n1)" != "$GO_DIRECTIVE" ]; then
	die "Traefik $VERSION needs go >= $GO_DIRECTIVE, this is go $gover"
fi

# Version of a required module in Traefik's go.mod (single-line or block form).
required_version() {
	awk -v m="$1" '
		/^require[ \t]*\(/ { blk = 1; next }
		blk && /^\)/ { blk = 0; next }
		blk && $1 == m { print $2; exit }
		$1 == "require" && $2 == m { print $3; exit }
	' "$TGOMOD"
}

W="$OUT_DIR/build" # stable path: without -trimpath the directory is part of the build cache key
if [ -d "$W" ]; then chmod -R u+w "$W"; rm -rf "$W"; fi
mkdir -p "$W"

# --- replace / exclude directives of Traefik's go.mod, one per line -----------------------
# Output lines: "replace LHS => RHS" / "exclude MOD VER" (comments stripped).
directives="$(awk '
	{ sub(/[ \t]*\/\/.*$/, "") }
	/^(replace|exclude)[ \t]*\($/ { blk = $1; next }
	blk != "" && /^\)/ { blk = ""; next }
	blk != "" && NF { sub(/^[ \t]+/, ""); print blk " " $0; next }
	/^(replace|exclude)[ \t]/ && NF { print }
' "$TGOMOD")"

LEGO_MOD="$(sed -n 's#^[[:space:]]*"\(github.com/go-acme/lego/v[0-9]*\)/providers/dns"$#\1#p' \
	"$TDIR/pkg/provider/acme/provider.go" | head -n1)"
[ -n "$LEGO_MOD" ] || die "cannot find the lego DNS registry import in pkg/provider/acme/provider.go"

gomod_replace=""
gomod_exclude=""
while read -r -a f; do
	[ "${#f[@]}" -gt 0 ] || continue
	if [ "${f[0]}" = exclude ]; then
		gomod_exclude+="exclude ${f[1]} ${f[2]}"$'\n'
		continue
	fi
	# replace LHS [LHSVER] => RHS [RHSVER]
	lhs="${f[1]}"
	lhsver=""
	i=2
	if [ "${f[2]}" != "=>" ]; then
		lhsver="${f[2]}"
		i=3
	fi
	[ "${f[$i]}" = "=>" ] || die "cannot parse: ${f[*]}"
	rhs="${f[$((i + 1))]}"
	rhsver="${f[$((i + 2))]:-}"
	[ "$lhs" != "$LEGO_MOD" ] || die "Traefik's go.mod already replaces $LEGO_MOD; update this script"
	case "$rhs" in
	./* | ../* | /*)
		local_dir="$W/local/${lhs//\//_}"
		if [ -f "$TDIR/$rhs/go.mod" ]; then
			cp -R "$TDIR/$rhs" "$local_dir"
			chmod -R u+w "$local_dir"
		elif [ "$lhs" = github.com/traefik/traefik/dynamic/ext ]; then
			log "writing stub module $lhs (nested module, not in Traefik's module zip)"
			mkdir -p "$local_dir"
			printf 'module %s\n\ngo 1.24.0\n' "$lhs" >"$local_dir/go.mod"
			cat >"$local_dir/ext.go" <<-'EOF'
				// Package ext is a stub of Traefik's nested module github.com/traefik/traefik/dynamic/ext,
				// written by previewgate's scripts/build-traefik.sh. It mirrors OSS Traefik's empty types.
				package ext

				// HTTP is a dynamic.HTTP extension.
				type HTTP struct{}

				// Router is a dynamic.Router extension.
				type Router struct{}

				// RouterIng is a RouterIng extension for ingress provider annotations.
				type RouterIng struct{}

				// ToRouter converts RouterIng to a Router.
				func (r RouterIng) ToRouter() Router { return Router{} }
			EOF
		else
			die "local replace $lhs => $rhs: not in the module zip and no stub known"
		fi
		rhs="./local/${lhs//\//_}"
		rhsver=""
		;;
	*)
		if ! mod_download "$rhs@$rhsver" >/dev/null; then
			fb="${FALLBACK[$rhs]:-}"
			[ -n "$fb" ] || die "replace target $rhs@$rhsver is not available and has no fallback"
			log "replace target $rhs@$rhsver refused; falling back to $rhs@$fb"
			mod_download "$rhs@$fb" >/dev/null || die "fallback $rhs@$fb is not available either"
			rhsver="$fb"
		fi
		;;
	esac
	gomod_replace+="replace $lhs${lhsver:+ $lhsver} => $rhs${rhsver:+ $rhsver}"$'\n'
done <<<"$directives"

# --- trimmed lego copy ---------------------------------------------------------------------
LEGO_VER="$(required_version "$LEGO_MOD")"
[ -n "$LEGO_VER" ] || die "cannot find the $LEGO_MOD version in Traefik's go.mod"
log "copying $LEGO_MOD@$LEGO_VER with a DNS registry trimmed to: $LEGO_DNS_KEEP"
LDIR="$(mod_download "$LEGO_MOD@$LEGO_VER")" || die "cannot download $LEGO_MOD@$LEGO_VER"
cp -R "$LDIR" "$W/lego"
chmod -R u+w "$W/lego"
reg_dir="$W/lego/providers/dns"
reg_file="$(grep -l '^func NewDNSChallengeProviderByName' "$reg_dir"/*.go | grep -v '_test\.go$' | head -n1 || true)"
[ -n "$reg_file" ] || die "no NewDNSChallengeProviderByName in $LEGO_MOD/providers/dns"
rm -f "$reg_file" "$reg_dir"/*_test.go
{
	printf '// Code generated by previewgate scripts/build-traefik.sh; DO NOT EDIT.\n'
	printf '// Trimmed DNS-01 provider registry: only providers without third-party DNS SDKs.\n\n'
	printf 'package dns\n\nimport (\n\t"fmt"\n\n\t"%s/challenge"\n' "$LEGO_MOD"
	for p in $LEGO_DNS_KEEP; do
		[ -d "$reg_dir/$p" ] || die "LEGO_DNS_KEEP: no provider '$p' in $LEGO_MOD"
		printf '\t"%s/providers/dns/%s"\n' "$LEGO_MOD" "$p"
	done
	printf ')\n\n// NewDNSChallengeProviderByName Factory for DNS providers.\n'
	printf 'func NewDNSChallengeProviderByName(name string) (challenge.Provider, error) {\n\tswitch name {\n'
	for p in $LEGO_DNS_KEEP; do
		printf '\tcase "%s":\n\t\treturn %s.NewDNSProvider()\n' "$p" "$p"
	done
	printf '\tdefault:\n\t\treturn nil, fmt.Errorf("unrecognized DNS provider: %%s (this Traefik build only has: %s)", name)\n\t}\n}\n' "$LEGO_DNS_KEEP"
} >"$reg_dir/zz_gen_dns_providers.go"
gomod_replace+="replace $LEGO_MOD => ./lego"$'\n'

# --- throwaway main module -------------------------------------------------------------------
cat >"$W/go.mod" <<EOF
// Throwaway module written by previewgate scripts/build-traefik.sh to build Traefik $VERSION.
module previewgate.invalid/traefik-build

go $GO_DIRECTIVE

require $TRAEFIK_MOD $VERSION

$gomod_replace
$gomod_exclude
EOF
log "build module: $W/go.mod"
sed 's/^/  | /' "$W/go.mod" >&2

log "go build $TRAEFIK_MOD/cmd/traefik (CGO_ENABLED=0, GOFLAGS=$GOFLAGS); ~6 min cold on 2 cores"
(
	cd "$W"
	go build -o "$OUT_DIR/traefik.tmp" \
		-ldflags "-s -w -X $TRAEFIK_MOD/pkg/version.Version=$VERSION" \
		"$TRAEFIK_MOD/cmd/traefik"
) >&2 || die "go build failed (build module kept in $W)"

mv -f "$OUT_DIR/traefik.tmp" "$BIN"
have_binary || die "$BIN does not report version $VERSION"
if [ "${PREVIEWGATE_KEEP_BUILD:-0}" != 1 ]; then
	chmod -R u+w "$W"
	rm -rf "$W"
fi
log "built $("$BIN" version | awk '$1 == "Version:" { print $2 }') in $(($(date +%s) - start)) s"
printf '%s\n' "$BIN"

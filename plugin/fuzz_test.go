package plugin

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
)

func FuzzParseLabel(f *testing.F) {
	for _, s := range []string{"3000-demo", "0-x", "65536-x", "1-a-b-c", "3000-", "-x", "22222-abcdefghij012345", "3000-DEMO"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, label string) {
		port, id, ok := ParseLabel(label)
		// The reference: cut at the first '-', then the two checks.
		rp, rid, cut := strings.Cut(label, "-")
		_, portOK := ParsePort(rp)
		if want := cut && portOK && ValidSandboxID(rid) && len(label) <= MaxLabel; ok != want {
			t.Fatalf("ParseLabel(%q) ok=%v, the reference says %v", label, ok, want)
		}
		if !ok {
			return
		}
		if label != port+"-"+id || len(label) > MaxLabel {
			t.Fatalf("%q split into %q and %q", label, port, id)
		}
		p, err := strconv.Atoi(port)
		if err != nil || p < 1 || p > 65535 || strconv.Itoa(p) != port {
			t.Fatalf("%q: port %q", label, port)
		}
		for _, c := range id {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				t.Fatalf("%q: id %q has %q", label, id, c)
			}
		}
		if id[0] == '-' || id[len(id)-1] == '-' {
			t.Fatalf("%q: id %q", label, id)
		}
	})
}

// dotSegmentRef is the obvious, slow definition of hasDotSegment.
func dotSegmentRef(p string) bool {
	for _, seg := range strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == '\\' }) {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

func FuzzHasDotSegment(f *testing.F) {
	for _, s := range []string{"/a/../b", "/..", "/a\\..\\b", "/.well-known", "..", "/a/./", "//..//"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if got, want := hasDotSegment(p), dotSegmentRef(p); got != want {
			t.Fatalf("hasDotSegment(%q) = %v, want %v", p, got, want)
		}
	})
}

func FuzzTakeQueryKey(f *testing.F) {
	for _, s := range []string{"a=1&DAYTONA_SANDBOX_AUTH_KEY=t&b=2", "DAYTONA%5FSANDBOX_AUTH_KEY=x", "x=%zz", "&&", "DAYTONA_SANDBOX_AUTH_KEY"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		_, rest, found := takeQueryKey(raw)
		if !found {
			if rest != raw {
				t.Fatalf("nothing found but the query changed: %q -> %q", raw, rest)
			}
			return
		}
		if _, _, again := takeQueryKey(rest); again {
			t.Fatalf("%q: the key survived in %q", raw, rest)
		}
		// What is kept is the original parameters, in order.
		var kept []string
		for _, p := range strings.Split(raw, "&") {
			k := p
			if i := strings.IndexByte(p, '='); i >= 0 {
				k = p[:i]
			}
			if _, _, isKey := takeQueryKey(k + "="); !isKey {
				kept = append(kept, p)
			}
		}
		if strings.Join(kept, "&") != rest {
			t.Fatalf("%q: kept %q, want %q", raw, rest, strings.Join(kept, "&"))
		}
	})
}

// No cookie of ours survives takeCookies, whatever the header, and the
// other cookies keep their order.
func FuzzTakeCookies(f *testing.F) {
	for _, s := range []string{"a=1; daytona-sandbox-auth-x=v; b=2", "daytona-sandbox-auth-x=\"q\"", ";;", "pkce_verifier=1", "x", "daytona-preview-page-accepted=1; c=3"} {
		f.Add(s, "x")
	}
	f.Fuzz(func(t *testing.T, cookie, id string) {
		hdr := http.Header{"Cookie": {cookie}}
		takeCookies(hdr, id)
		var kept []string
		ours := false
		for _, part := range strings.Split(cookie, ";") {
			part = strings.TrimSpace(part)
			name, _, _ := strings.Cut(part, "=")
			if ourCookie(strings.TrimSpace(name)) {
				ours = true
			} else if part != "" {
				kept = append(kept, part)
			}
		}
		// A header that cannot hold a cookie of ours is left as it was;
		// any other is rewritten without them.
		want := cookie
		if strings.Contains(cookie, "daytona-") || strings.Contains(cookie, cookiePKCE) {
			want = strings.Join(kept, "; ")
		} else if ours {
			t.Fatalf("%q: a cookie of ours without daytona- or pkce_verifier in the header", cookie)
		}
		if got := strings.Join(hdr["Cookie"], "; "); got != want {
			t.Fatalf("takeCookies(%q) left %q, want %q", cookie, got, want)
		}
	})
}

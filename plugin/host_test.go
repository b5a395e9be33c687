package plugin

import (
	"strings"
	"testing"
)

func TestParseLabel(t *testing.T) {
	tests := []struct {
		label, port, id string
		ok              bool
	}{
		{"3000-demo", "3000", "demo", true},
		{"1-a", "1", "a", true},
		{"65535-9f1c2a3b-1111-4222-8333-444455556666", "65535", "9f1c2a3b-1111-4222-8333-444455556666", true},
		{"2280-abcdefghij012345", "2280", "abcdefghij012345", true},
		{"0-demo", "", "", false},
		{"65536-demo", "", "", false},
		{"03000-demo", "", "", false},
		{"+1-demo", "", "", false},
		{"3000", "", "", false},
		{"3000-", "", "", false},
		{"-demo", "", "", false},
		{"3000--demo", "", "", false},
		{"3000-demo-", "", "", false},
		{"3000-Demo", "", "", false},
		{"3000-de_mo", "", "", false},
		{"3000-de.mo", "", "", false},
		{"123456-demo", "", "", false},
		{"3000-" + string(make([]byte, 58)), "", "", false},
		{"", "", "", false},
	}
	for _, tt := range tests {
		port, id, ok := ParseLabel(tt.label)
		if ok != tt.ok || port != tt.port || id != tt.id {
			t.Errorf("ParseLabel(%q) = %q, %q, %v; want %q, %q, %v", tt.label, port, id, ok, tt.port, tt.id, tt.ok)
		}
	}
}

func TestParsePort(t *testing.T) {
	for s, want := range map[string]int{"1": 1, "80": 80, "65535": 65535} {
		if p, ok := ParsePort(s); !ok || p != want {
			t.Errorf("ParsePort(%q) = %d, %v", s, p, ok)
		}
	}
	for _, s := range []string{"", "0", "00", "065", "65536", "99999", "-1", "1e3", " 80", "８０"} {
		if p, ok := ParsePort(s); ok {
			t.Errorf("ParsePort(%q) = %d, true; want false", s, p)
		}
	}
}

func TestIsSignedToken(t *testing.T) {
	if !IsSignedToken("abcdefghij012345") {
		t.Error("16 lower-case alphanumerics should be a signed token")
	}
	for _, s := range []string{"abcdefghij01234", "abcdefghij0123456", "abcdefghij-12345", "ABCDEFGHIJ012345"} {
		if IsSignedToken(s) {
			t.Errorf("IsSignedToken(%q) = true", s)
		}
	}
}

func TestAlwaysAuthPort(t *testing.T) {
	for _, p := range []string{"22222", "2280", "33333"} {
		if !AlwaysAuthPort(p) {
			t.Errorf("AlwaysAuthPort(%q) = false", p)
		}
	}
	if AlwaysAuthPort("3000") {
		t.Error("AlwaysAuthPort(3000) = true")
	}
}

func TestHasDotSegment(t *testing.T) {
	tests := map[string]bool{
		"/":                    false,
		"":                     false,
		"/a/b.js":              false,
		"/.well-known/x":       false,
		"/a/..b/c":             false,
		"/a/b..":               false,
		"/..":                  true,
		"/.":                   true,
		"/a/./b":               true,
		"/a/../b":              true,
		"/a/..":                true,
		"/a\\..\\b":            true,
		"/a\\.":                true,
		"/..\\x":               true,
		"..":                   true,
		"/a/.../b":             false,
		"/a%2e%2e/b":           false, // decoded paths never hold %2e; this is a literal name
		"/x/../../sb2/toolbox": true,
	}
	for p, want := range tests {
		if got := hasDotSegment(p); got != want {
			t.Errorf("hasDotSegment(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestTakeQueryKey(t *testing.T) {
	tests := []struct {
		raw, token, rest string
		found            bool
	}{
		{"a=1&b=2", "", "a=1&b=2", false},
		{"DAYTONA_SANDBOX_AUTH_KEY=tok", "tok", "", true},
		{"z=1&DAYTONA_SANDBOX_AUTH_KEY=tok&a=2", "tok", "z=1&a=2", true},
		{"z=%2F&DAYTONA_SANDBOX_AUTH_KEY=t%2Bk&a=2&DAYTONA_SANDBOX_AUTH_KEY=second", "t+k", "z=%2F&a=2", true},
		{"DAYTONA%5FSANDBOX_AUTH_KEY=enc&q=1", "enc", "q=1", true},
		{"x=%zz&DAYTONA_SANDBOX_AUTH_KEY=tok", "tok", "x=%zz", true},
		{"DAYTONA_SANDBOX_AUTH_KEYX=no&b", "", "DAYTONA_SANDBOX_AUTH_KEYX=no&b", false},
		{"q=DAYTONA_SANDBOX_AUTH_KEY", "", "q=DAYTONA_SANDBOX_AUTH_KEY", false},
	}
	for _, tt := range tests {
		token, rest, found := takeQueryKey(tt.raw)
		if token != tt.token || rest != tt.rest || found != tt.found {
			t.Errorf("takeQueryKey(%q) = %q, %q, %v; want %q, %q, %v", tt.raw, token, rest, found, tt.token, tt.rest, tt.found)
		}
	}
}

func TestClientIP(t *testing.T) {
	for in, want := range map[string]string{
		"1.2.3.4:5678": "1.2.3.4",
		"[::1]:80":     "::1",
		"1.2.3.4":      "1.2.3.4",
		"[fe80::1]":    "fe80::1",
	} {
		if got := clientIP(in); got != want {
			t.Errorf("clientIP(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDecideTarget(t *testing.T) {
	tests := []struct {
		path, route, sandbox, port string
		ok                         bool
	}{
		{"/v1/decide/preview/demo/3000", RoutePreview, "demo", "3000", true},
		{"/v1/decide/toolbox/demo", RouteToolbox, "demo", "", true},
		{"/v1/decide/gateway", RouteGateway, "", "", true},
		{"/v1/decide/preview/demo/0", "", "", "", false},
		{"/v1/decide/preview/demo", "", "", "", false},
		{"/v1/decide/preview/-demo/3000", "", "", "", false},
		{"/v1/decide/toolbox/", "", "", "", false},
		{"/v1/decide/gateway/x", "", "", "", false},
		{"/v1/decide", "", "", "", false},
		{"/v2/decide/gateway", "", "", "", false},
	}
	for _, tt := range tests {
		route, sandbox, port, ok := DecideTarget(tt.path)
		if ok != tt.ok || (ok && (route != tt.route || sandbox != tt.sandbox || port != tt.port)) {
			t.Errorf("DecideTarget(%q) = %q %q %q %v", tt.path, route, sandbox, port, ok)
		}
	}
}

func TestSplitRequest(t *testing.T) {
	m, h, u := SplitRequest("POST 3000-a.example.com:8000 /x%20y?q=1")
	if m != "POST" || h != "3000-a.example.com:8000" || u != "/x%20y?q=1" {
		t.Errorf("got %q %q %q", m, h, u)
	}
	if m, h, u := SplitRequest(""); m != "" || h != "" || u != "" {
		t.Errorf("empty: %q %q %q", m, h, u)
	}
}

func TestValidSocketName(t *testing.T) {
	long := "@" + strings.Repeat("s", 106)
	for s, want := range map[string]bool{
		"@previewgate-decide": true, "/run/previewgate.sock": true, long: true,
		"": false, "@": false, "/": false, "relative.sock": false, long + "s": false,
	} {
		if got := ValidSocketName(s); got != want {
			t.Errorf("ValidSocketName(%q) = %v, want %v", s, got, want)
		}
	}
}

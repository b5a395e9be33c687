package authcookie_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/gob"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/previewgate/previewgate/resolver-svc/internal/authcookie"
)

const (
	key     = "super_secret_key"
	sandbox = "8c2f6a1e-0b7d-4a53-9d55-6b1f3f0f2a11"
)

// daytonaCookie builds a cookie value exactly as gorilla/securecookie
// v1.1.2 does (this is an independent implementation of the format, so the
// test pins the wire format, not just a round trip): base64url of
// "date|base64url(gob(value))|mac" where mac = HMAC-SHA256(key,
// "name|date|base64url(gob(value))").
func daytonaCookie(t testing.TB, hashKey, name, value string, at time.Time) string {
	t.Helper()
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(value); err != nil {
		t.Fatal(err)
	}
	payload := base64.URLEncoding.EncodeToString(buf.Bytes())
	signed := fmt.Sprintf("%s|%d|%s", name, at.Unix(), payload)
	m := hmac.New(sha256.New, []byte(hashKey))
	m.Write([]byte(signed))
	out := fmt.Sprintf("%d|%s|", at.Unix(), payload)
	return base64.URLEncoding.EncodeToString(append([]byte(out), m.Sum(nil)...))
}

func TestVerify(t *testing.T) {
	c, err := authcookie.New([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tests := []struct {
		name      string
		idOrToken string
		value     string
		wantID    string
		wantErr   error
	}{
		{"daytona cookie", sandbox, daytonaCookie(t, key, "daytona-sandbox-auth-"+sandbox, sandbox, now), sandbox, nil},
		// gin's SetCookie query-escapes the value: a UUID's signature ends in
		// base64 padding, sent back as %3D.
		{"daytona cookie as gin sets it", sandbox, url.QueryEscape(daytonaCookie(t, key, "daytona-sandbox-auth-"+sandbox, sandbox, now)), sandbox, nil},
		{"bad escape", sandbox, "%zz", "", authcookie.ErrInvalid},
		{"signed-token cookie", "abcdefgh12345678", daytonaCookie(t, key, "daytona-sandbox-auth-abcdefgh12345678", sandbox, now), sandbox, nil},
		{"almost expired", sandbox, daytonaCookie(t, key, "daytona-sandbox-auth-"+sandbox, sandbox, now.Add(-3590*time.Second)), sandbox, nil},
		{"expired", sandbox, daytonaCookie(t, key, "daytona-sandbox-auth-"+sandbox, sandbox, now.Add(-3700*time.Second)), "", authcookie.ErrExpired},
		{"forged with another key", sandbox, daytonaCookie(t, "other key", "daytona-sandbox-auth-"+sandbox, sandbox, now), "", authcookie.ErrInvalid},
		{"cookie of another sandbox under this name", sandbox, daytonaCookie(t, key, "daytona-sandbox-auth-other", sandbox, now), "", authcookie.ErrInvalid},
		{"garbage", sandbox, "not-a-cookie", "", authcookie.ErrInvalid},
		{"empty", sandbox, "", "", authcookie.ErrInvalid},
		{"bad id inside", sandbox, daytonaCookie(t, key, "daytona-sandbox-auth-"+sandbox, "../x", now), "", authcookie.ErrInvalid},
	}
	if v := url.QueryEscape(tests[0].value); !strings.Contains(v, "%3D") {
		t.Fatalf("the test cookie has no padding to escape: %s", v)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := c.Verify(tt.idOrToken, tt.value)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if id != tt.wantID {
				t.Fatalf("id = %q, want %q", id, tt.wantID)
			}
		})
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	c, _ := authcookie.New([]byte(key))
	v, err := c.Encode(sandbox, sandbox)
	if err != nil {
		t.Fatal(err)
	}
	if id, err := c.Verify(sandbox, v); err != nil || id != sandbox {
		t.Fatalf("Verify = %q, %v", id, err)
	}
	// Bound to the name: the same value is no good for another sandbox.
	if _, err := c.Verify("other-sandbox", v); !errors.Is(err, authcookie.ErrInvalid) {
		t.Fatalf("err = %v", err)
	}
	// The independent encoder and securecookie agree byte for byte.
	if want := daytonaCookie(t, key, authcookie.Name(sandbox), sandbox, time.Now()); v != want {
		// Timestamps may differ by a second at a boundary; retry once.
		v, _ = c.Encode(sandbox, sandbox)
		if want = daytonaCookie(t, key, authcookie.Name(sandbox), sandbox, time.Now()); v != want {
			t.Fatalf("format differs:\n got %s\nwant %s", v, want)
		}
	}
}

func TestNewRejectsEmptyKey(t *testing.T) {
	if _, err := authcookie.New(nil); err == nil {
		t.Fatal("want an error")
	}
}

func BenchmarkVerify(b *testing.B) {
	c, _ := authcookie.New([]byte(key))
	v := daytonaCookie(b, key, authcookie.Name(sandbox), sandbox, time.Now())
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Verify(sandbox, v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyForged(b *testing.B) {
	c, _ := authcookie.New([]byte(key))
	v := daytonaCookie(b, "wrong", authcookie.Name(sandbox), sandbox, time.Now())
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Verify(sandbox, v); err == nil {
			b.Fatal("accepted")
		}
	}
}

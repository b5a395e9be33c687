package runners_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/previewgate/previewgate/resolver-svc/internal/runners"
)

func newRegistry(t *testing.T, mod ...func(*runners.Config)) *runners.Registry {
	t.Helper()
	cfg := runners.Config{ParentRouter: "previewgate@file"}
	for _, m := range mod {
		m(&cfg)
	}
	r, err := runners.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

const golden = `{
  "http": {
    "routers": {
      "previewgate-runner-0b7d-runner": {
        "parentRefs": [
          "previewgate@file"
        ],
        "rule": "Header(` + "`Connection`, `Previewgate-Runner-0b7d-Runner`" + `)",
        "service": "previewgate-runner-0b7d-runner"
      },
      "previewgate-runner-Static-1": {
        "parentRefs": [
          "previewgate@file"
        ],
        "rule": "Header(` + "`Connection`, `Previewgate-Runner-Static-1`" + `)",
        "service": "previewgate-runner-Static-1"
      },
      "previewgate-runner-a1": {
        "parentRefs": [
          "previewgate@file"
        ],
        "rule": "Header(` + "`Connection`, `Previewgate-Runner-A1`" + `)",
        "service": "previewgate-runner-a1"
      }
    },
    "services": {
      "previewgate-runner-0b7d-runner": {
        "loadBalancer": {
          "passHostHeader": false,
          "servers": [
            {
              "url": "http://runner-b:3003"
            }
          ]
        }
      },
      "previewgate-runner-Static-1": {
        "loadBalancer": {
          "passHostHeader": false,
          "servers": [
            {
              "url": "https://static.example:8443/base",
              "preservePath": true
            }
          ]
        }
      },
      "previewgate-runner-a1": {
        "loadBalancer": {
          "passHostHeader": false,
          "servers": [
            {
              "url": "http://runner-a:3003"
            }
          ]
        }
      }
    }
  }
}
`

func TestRenderGolden(t *testing.T) {
	r := newRegistry(t, func(c *runners.Config) {
		c.Static = map[string]string{"Static-1": "https://static.example:8443/base/"}
	})
	// Learned in an order other than the sorted one.
	for _, l := range [][2]string{{"a1", "http://runner-a:3003"}, {"0b7d-runner", "http://runner-b:3003/"}, {"a1", "http://runner-a:3003"}} {
		if err := r.Learn(l[0], l[1]); err != nil {
			t.Fatal(err)
		}
	}
	got := r.Render().Body
	if string(got) != golden {
		t.Fatalf("config differs from golden:\n%s", got)
	}
	// Byte-stable: rendering again, and from a registry filled in another
	// order, gives the same bytes.
	if again := r.Render().Body; !bytes.Equal(again, got) {
		t.Fatal("a second render differs")
	}
	r2 := newRegistry(t, func(c *runners.Config) {
		c.Static = map[string]string{"Static-1": "https://static.example:8443/base"}
	})
	_ = r2.Learn("0b7d-runner", "http://runner-b:3003")
	_ = r2.Learn("a1", "http://runner-a:3003")
	if !bytes.Equal(r2.Render().Body, got) {
		t.Fatal("another insertion order renders differently")
	}
	var v map[string]any
	if err := json.Unmarshal(got, &v); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
}

func TestRenderEmpty(t *testing.T) {
	got := string(newRegistry(t).Render().Body)
	if got != "{\n  \"http\": {}\n}\n" {
		t.Fatalf("empty registry renders %s", got)
	}
}

func TestLearnRejectsUnroutable(t *testing.T) {
	r := newRegistry(t)
	tests := []struct {
		id, url string
		want    error
	}{
		{"", "http://x", runners.ErrBadID},
		{"a`b", "http://x", runners.ErrBadID},
		{"a b", "http://x", runners.ErrBadID},
		{"a)||Host(`evil`", "http://x", runners.ErrBadID},
		{"a.b", "http://x", runners.ErrBadID},
		{"a_b", "http://x", runners.ErrBadID},
		{"ä", "http://x", runners.ErrBadID},
		{strings.Repeat("a", 129), "http://x", runners.ErrBadID},
		{"ok", "", runners.ErrBadURL},
		{"ok", "ftp://x", runners.ErrBadURL},
		{"ok", "http://", runners.ErrBadURL},
		{"ok", "http://x?y=1", runners.ErrBadURL},
		{"ok", "http://u:p@x", runners.ErrBadURL},
		{"ok", "http://x/`", runners.ErrBadURL},
		{"ok", "/relative", runners.ErrBadURL},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q %q", tt.id, tt.url), func(t *testing.T) {
			if err := r.Learn(tt.id, tt.url); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	if r.Len() != 0 {
		t.Fatalf("%d runners learned", r.Len())
	}
	if !runners.ValidID("8c2f6a1e-0b7d-4a53-9d55-6b1f3f0f2a11") {
		t.Fatal("a UUID is refused")
	}
}

// The child routers match a runner's Connection token, which is in the
// canonical case of a header name: ids that differ only in case would share
// it, so the second is refused, learned or static.
func TestIDsDifferingOnlyInCaseAreRefused(t *testing.T) {
	r := newRegistry(t, func(c *runners.Config) { c.Static = map[string]string{"Static-1": "http://s1"} })
	if err := r.Learn("0b7d-runner", "http://a"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"0B7D-Runner", "static-1", "STATIC-1"} {
		if err := r.Learn(id, "http://b"); !errors.Is(err, runners.ErrIDCase) {
			t.Errorf("Learn(%q) = %v, want ErrIDCase", id, err)
		}
	}
	// The same id again is no conflict.
	if err := r.Learn("0b7d-runner", "http://a2"); err != nil {
		t.Fatal(err)
	}
	if r.Len() != 2 {
		t.Fatalf("%d runners, want 2", r.Len())
	}
	_, err := runners.New(runners.Config{ParentRouter: "p@file",
		Static: map[string]string{"Edge-1": "http://x", "edge-1": "http://y", "edge-2": "http://z"}})
	if !errors.Is(err, runners.ErrIDCase) || !strings.Contains(err.Error(), `"Edge-1" and "edge-1"`) {
		t.Fatalf("New = %v, want ErrIDCase naming both ids", err)
	}
}

func TestNewReportsEveryProblem(t *testing.T) {
	_, err := runners.New(runners.Config{
		ParentRouter: "",
		Static:       map[string]string{"bad id": "http://x", "ok": "nope"},
	})
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{"parent router", `"bad id"`, `"ok"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestReadyGate(t *testing.T) {
	r := newRegistry(t, func(c *runners.Config) { c.Static = map[string]string{"s": "http://s"} })
	if r.Ready("s") {
		t.Fatal("a static runner is ready before Traefik fetched anything")
	}
	_ = r.Learn("a", "http://a")
	rendered := r.Render()
	_ = r.Learn("b", "http://b") // learned after the render
	r.MarkServed(rendered.Version)
	if !r.Ready("a") || !r.Ready("s") {
		t.Fatal("served runners are not ready")
	}
	if r.Ready("b") {
		t.Fatal("a runner learned after the served render is ready")
	}
	if r.Ready("unknown") {
		t.Fatal("an unknown runner is ready")
	}
	// A changed URL needs a new fetch.
	_ = r.Learn("a", "http://a-moved")
	if r.Ready("a") {
		t.Fatal("a moved runner is ready before Traefik saw its new URL")
	}
	r.MarkServed(r.Render().Version)
	if !r.Ready("a") || !r.Ready("b") {
		t.Fatal("not ready after the next fetch")
	}
	// Static runners keep their URL.
	_ = r.Learn("s", "http://elsewhere")
	if !r.Ready("s") || !strings.Contains(string(r.Render().Body), `"http://s"`) {
		t.Fatal("a lookup changed a static runner")
	}
}

func TestReadyApplyDelay(t *testing.T) {
	r := newRegistry(t, func(c *runners.Config) { c.ApplyDelay = 50 * time.Millisecond })
	_ = r.Learn("a", "http://a")
	r.MarkServed(r.Render().Version)
	if r.Ready("a") {
		t.Fatal("ready before the apply delay")
	}
	time.Sleep(60 * time.Millisecond)
	r.MarkServed(r.Render().Version) // later polls do not reset it
	if !r.Ready("a") {
		t.Fatal("not ready after the apply delay")
	}
}

func TestMaxRunners(t *testing.T) {
	r := newRegistry(t, func(c *runners.Config) { c.MaxRunners = 2 })
	_ = r.Learn("a", "http://a")
	_ = r.Learn("b", "http://b")
	if err := r.Learn("c", "http://c"); !errors.Is(err, runners.ErrFull) {
		t.Fatalf("err = %v", err)
	}
	if err := r.Learn("a", "http://a2"); err != nil {
		t.Fatalf("updating a known runner when full: %v", err)
	}
}

func TestConcurrent(t *testing.T) {
	r := newRegistry(t)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 100 {
				_ = r.Learn(fmt.Sprintf("r%d", (g+i)%20), "http://x")
				r.Ready("r1")
				if i%10 == 0 {
					r.MarkServed(r.Render().Version)
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkReady(b *testing.B) {
	r, _ := runners.New(runners.Config{ParentRouter: "p@file"})
	_ = r.Learn("a", "http://a")
	r.MarkServed(r.Render().Version)
	b.ReportAllocs()
	for b.Loop() {
		if !r.Ready("a") {
			b.Fatal("not ready")
		}
	}
}

package plugin

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
	"time"
)

// These benchmarks run compiled (go test -bench) and interpreted
// (scripts/yaegi-test.sh -bench): only the interpreted numbers say what
// Traefik pays; the compiled ones catch allocation regressions. Compare
// runs with benchstat.

// nopWriter is a ResponseWriter that keeps nothing.
type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopWriter) WriteHeader(int)             {}

func benchHandler(b *testing.B, cacheSize int) http.Handler {
	b.Helper()
	f := &fakeResolver{}
	srv := httptest.NewServer(f)
	b.Cleanup(srv.Close)
	return benchHandlerAt(b, srv.URL, cacheSize)
}

func benchHandlerAt(b *testing.B, resolverURL string, cacheSize int) http.Handler {
	return benchHandlerWith(b, resolverURL, "", cacheSize)
}

func benchHandlerWith(b *testing.B, resolverURL, socket string, cacheSize int) http.Handler {
	b.Helper()
	cfg := CreateConfig()
	cfg.PreviewDomains = []string{"localhost"}
	cfg.ResolverURL = resolverURL
	cfg.ResolverSocket = socket
	cfg.ResolverSecret = testSecret
	cfg.CacheSize = cacheSize
	next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	h, err := New(context.Background(), next, cfg, b.Name())
	if err != nil {
		b.Fatal(err)
	}
	return h
}

func benchServe(b *testing.B, h http.Handler, host, path string, header map[string]string) {
	b.Helper()
	// One template request; each iteration gets a fresh copy, as Traefik's
	// server would, because the plugin rewrites the request.
	tmpl := httptest.NewRequest("GET", "http://"+host+path, nil)
	// Traefik hands a plugin the request target in origin form (its
	// sanitizePath sets RequestURI from the URL).
	tmpl.RequestURI = tmpl.URL.RequestURI()
	for k, v := range header {
		tmpl.Header.Set(k, v)
	}
	w := &nopWriter{h: http.Header{}}
	h.ServeHTTP(w, tmpl.Clone(context.Background())) // warm the cache
	// Fresh copies are made in batches, off the clock: b.N may be millions.
	const batch = 1000
	reqs := make([]*http.Request, batch)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%batch == 0 {
			b.StopTimer()
			for j := 0; j < batch; j++ {
				reqs[j] = tmpl.Clone(context.Background())
			}
			b.StartTimer()
		}
		h.ServeHTTP(w, reqs[i%batch])
	}
}

func BenchmarkHitPublic(b *testing.B) {
	benchServe(b, benchHandler(b, 1000), "3000-demo-public.localhost", "/fast", nil)
}

// BenchmarkHitAsset is a public hit for what an app's pages mostly ask
// for: a file name with a dot, and a query of the app's own.
func BenchmarkHitAsset(b *testing.B) {
	benchServe(b, benchHandler(b, 1000), "3000-demo-public.localhost", "/assets/index-4f3a2b.js?v=1", nil)
}

func BenchmarkHitPreviewToken(b *testing.B) {
	benchServe(b, benchHandler(b, 1000), "3000-demo-private.localhost", "/fast",
		map[string]string{HeaderDaytonaPreviewToken: "demopreviewtoken0000000000000001"})
}

func BenchmarkHitCookie(b *testing.B) {
	benchServe(b, benchHandler(b, 1000), "3000-demo-private.localhost", "/fast",
		map[string]string{"Cookie": "theme=dark; daytona-sandbox-auth-demo-private=MTcwMDAwMDAwMHxEdi1CQkFFQ180SUFBUkFCRUFBQUh2LUNBQUVHYzNSeWFXNW5EQW9BQ0dSbGJXOHRZWEJ3fA=="})
}

func BenchmarkMissCacheOff(b *testing.B) {
	h := benchHandlerAt(b, rawResolver(b), 0)
	benchServe(b, h, "3000-demo-public.localhost", "/fast", nil)
}

func BenchmarkMissCacheOffDatagram(b *testing.B) {
	h := benchHandlerWith(b, "http://127.0.0.1:9", rawDgramResolver(b), 0)
	benchServe(b, h, "3000-demo-public.localhost", "/fast", nil)
}

// fullCache is a cache at its bound of n live decisions, expiring over
// the next hour (a cacheMaxTTL of 1h: 7,200 buckets to walk).
func fullCache(n int) (*decisionCache, int64) {
	c := &decisionCache{limit: int64(n)}
	now := time.Now().UnixNano()
	for i := 0; i < n; i++ {
		c.put("3000-s"+strconv.Itoa(i)+".localhost", &decision{expires: now + int64(time.Hour)*int64(i)/int64(n)}, now)
	}
	return c, now
}

// BenchmarkSweepNoneDue is the sweeper's pass over a cache of 10,000
// decisions of which none expired: what Traefik pays every SweepInterval
// for keeping them.
func BenchmarkSweepNoneDue(b *testing.B) {
	c, now := fullCache(10000)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.removeExpired(now)
	}
}

// BenchmarkStoreFull is a store into a full cache of 10,000: the miss
// that makes room pays for it.
func BenchmarkStoreFull(b *testing.B) {
	c, now := fullCache(10000)
	d := &decision{expires: now + int64(time.Hour)}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.put("3000-new"+strconv.Itoa(i)+".localhost", d, now)
	}
}

// rawDgramResolver answers every datagram with one fixed forward decision.
func rawDgramResolver(b *testing.B) string {
	b.Helper()
	name := "@previewgate-bench-" + strconv.Itoa(os.Getpid()) + "-" + b.Name()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	answer := []byte("forward\nr1\nBearer k\n/sandboxes/demo-public/toolbox/proxy/3000\n\n10")
	go func() {
		buf := make([]byte, MaxDatagram)
		for {
			_, from, err := c.ReadFromUnix(buf)
			if err != nil {
				return
			}
			c.WriteToUnix(answer, from)
		}
	}()
	return name
}

// rawResolver answers every request on a keep-alive connection with one
// fixed forward decision, written by one call: under Yaegi an
// httptest.Server's handler would be interpreted and would outweigh the
// plugin in BenchmarkMissCacheOff.
func rawResolver(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	answer := []byte("HTTP/1.1 200 OK\r\n" + HeaderDecision + ": forward\r\n" + HeaderRunner + ": r1\r\n" +
		HeaderRunnerKey + ": Bearer k\r\n" + HeaderPrefix + ": /sandboxes/demo-public/toolbox/proxy/3000\r\n" +
		HeaderTTL + ": 10\r\nContent-Length: 0\r\n\r\n")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(r)
					if err != nil {
						return
					}
					req.Body.Close()
					if _, err := c.Write(answer); err != nil {
						return
					}
				}
			}(c)
		}
	}()
	return "http://" + ln.Addr().String()
}

func BenchmarkParseLabel(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		ParseLabel("3000-0b8f5d2c-6a4e-4f1e-9c3a-2d7e8f9a0b1c")
	}
}

func BenchmarkTakeQueryKey(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		takeQueryKey("b=2&DAYTONA_SANDBOX_AUTH_KEY=demopreviewtoken0000000000000001&a=1")
	}
}

func BenchmarkHasDotSegment(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		hasDotSegment("/static/js/app.0123456789.js")
	}
}

// noopHandler is the floor under Yaegi: an interpreted ServeHTTP that only
// calls next.
type noopHandler struct{ next http.Handler }

func (n *noopHandler) ServeHTTP(rw http.ResponseWriter, req *http.Request) { n.next.ServeHTTP(rw, req) }

func BenchmarkNoopFloor(b *testing.B) {
	benchServe(b, &noopHandler{next: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})}, "3000-demo-public.localhost", "/fast", nil)
}

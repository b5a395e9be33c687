package demoapp

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

var ident = Identity{SandboxID: "sb-1", Port: "3000", RunnerID: "11111111-1111-4111-8111-111111111111", RunnerName: "r1"}

func newApp(t *testing.T, id Identity) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(New(id))
	t.Cleanup(ts.Close)
	return ts
}

func TestPage(t *testing.T) {
	ts := newApp(t, Identity{SandboxID: "<b>x</b>", Port: "3000", RunnerID: "rid", RunnerName: "r1"})
	resp, err := http.Get(ts.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	body := string(b)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{"&lt;b&gt;x&lt;/b&gt;", "<dd>3000</dd>", "r1 (rid)"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "<b>x</b>") {
		t.Error("sandbox id not escaped")
	}
}

func TestEcho(t *testing.T) {
	ts := newApp(t, ident)
	tests := []struct {
		name, method, target, body string
		wantPath, wantRaw, wantQ   string
	}{
		{"echo", "GET", "/echo", "", "/echo", "/echo", ""},
		{"echo subpath with query", "GET", "/echo/a/b?x=1&x=2&y", "", "/echo/a/b", "/echo/a/b", "x=1&x=2&y"},
		{"encoded slash", "GET", "/a%2Fb", "", "/a/b", "/a%2Fb", ""},
		{"dot segments are not cleaned", "GET", "/x/..%2f..%2fetc", "", "/x/../../etc", "/x/..%2f..%2fetc", ""},
		{"literal dot segments", "GET", "/x/../y", "", "/x/../y", "/x/../y", ""},
		{"post body", "POST", "/echo", "hello world", "/echo", "/echo", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, ts.URL+tt.target, strings.NewReader(tt.body))
			req.Header.Add("X-Multi", "a")
			req.Header.Add("X-Multi", "b")
			req.AddCookie(&http.Cookie{Name: "c1", Value: "v1"})
			req.AddCookie(&http.Cookie{Name: "c2", Value: "v2"})
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var e Echo
			if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
				t.Fatal(err)
			}
			if e.Method != tt.method || e.Path != tt.wantPath || e.RawPath != tt.wantRaw || e.RawQuery != tt.wantQ {
				t.Errorf("method/path/raw/query = %s %q %q %q", e.Method, e.Path, e.RawPath, e.RawQuery)
			}
			if e.SandboxID != "sb-1" || e.Port != "3000" || e.RunnerID != ident.RunnerID || e.RunnerName != "r1" {
				t.Errorf("identity = %+v", e)
			}
			if strings.Join(e.Headers["X-Multi"], ",") != "a,b" {
				t.Errorf("multi-valued header = %v", e.Headers["X-Multi"])
			}
			if len(e.Cookies) != 2 || e.Cookies[1] != (Cookie{Name: "c2", Value: "v2"}) {
				t.Errorf("cookies = %v", e.Cookies)
			}
			sum := sha256.Sum256([]byte(tt.body))
			if e.BodyLength != int64(len(tt.body)) || e.BodySHA256 != hex.EncodeToString(sum[:]) {
				t.Errorf("body = %d %s", e.BodyLength, e.BodySHA256)
			}
			if !strings.HasPrefix(e.Host, "127.0.0.1:") {
				t.Errorf("host = %q", e.Host)
			}
		})
	}
}

func wsURL(ts *httptest.Server, path string) string {
	return "ws" + strings.TrimPrefix(ts.URL, "http") + path
}

func TestWebSocketEcho(t *testing.T) {
	ts := newApp(t, ident)
	tests := []struct {
		name      string
		protos    []string
		wantProto string
	}{
		{"no subprotocol", nil, ""},
		{"first subprotocol echoed", []string{"X-Daytona-SDK-Version~0.190.0", "other"}, "X-Daytona-SDK-Version~0.190.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, resp, err := websocket.Dial(ctx, wsURL(ts, "/ws"), &websocket.DialOptions{
				Subprotocols: tt.protos,
				HTTPHeader:   http.Header{"Origin": {"https://evil.example"}},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			c.SetReadLimit(1 << 20)
			if resp.StatusCode != http.StatusSwitchingProtocols || c.Subprotocol() != tt.wantProto {
				t.Errorf("status %d, subprotocol %q", resp.StatusCode, c.Subprotocol())
			}
			for _, m := range []struct {
				typ  websocket.MessageType
				data []byte
			}{{websocket.MessageText, []byte("hello")}, {websocket.MessageBinary, []byte{0, 1, 2, 255}}, {websocket.MessageText, []byte(strings.Repeat("x", 100000))}} {
				if err := c.Write(ctx, m.typ, m.data); err != nil {
					t.Fatal(err)
				}
				typ, data, err := c.Read(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if typ != m.typ || string(data) != string(m.data) {
					t.Errorf("echo = %v %d bytes, want %v %d bytes", typ, len(data), m.typ, len(m.data))
				}
			}
			if err := c.Close(websocket.StatusNormalClosure, "bye"); err != nil {
				t.Errorf("close: %v", err)
			}
		})
	}
}

func TestWebSocketHello(t *testing.T) {
	ts := newApp(t, ident)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, wsURL(ts, "/ws?hello=1"), &websocket.DialOptions{Subprotocols: []string{"p1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	_, data, err := c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var h Hello
	if err := json.Unmarshal(data, &h); err != nil || h != (Hello{SandboxID: "sb-1", Port: "3000", RunnerID: ident.RunnerID, Subprotocol: "p1"}) {
		t.Errorf("hello = %s (%v)", data, err)
	}
}

func TestWebSocketRejectsPlainGET(t *testing.T) {
	ts := newApp(t, ident)
	resp, err := http.Get(ts.URL + "/ws")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired {
		t.Errorf("status = %d", resp.StatusCode)
	}
}

// readSSE reads "data:" events and the time each arrived.
func readSSE(t *testing.T, body io.Reader) ([]string, []time.Time) {
	t.Helper()
	var data []string
	var at []time.Time
	sc := bufio.NewScanner(body)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			data = append(data, d)
			at = append(at, time.Now())
		}
	}
	return data, at
}

func TestSSEStreams(t *testing.T) {
	ts := newApp(t, ident)
	start := time.Now()
	resp, err := http.Get(ts.URL + "/sse?n=4&ms=150")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Errorf("content type %q", resp.Header.Get("Content-Type"))
	}
	data, at := readSSE(t, resp.Body)
	end := time.Now()
	if len(data) != 4 {
		t.Fatalf("events = %v", data)
	}
	for i, d := range data {
		if !strings.HasPrefix(d, string(rune('0'+i))+" ") {
			t.Errorf("event %d = %q", i, d)
		}
	}
	// The stream lasts ≥ 450 ms; the first event must arrive long before.
	if end.Sub(start) < 450*time.Millisecond {
		t.Errorf("stream took %v", end.Sub(start))
	}
	if at[0].Sub(start) > 200*time.Millisecond || end.Sub(at[0]) < 400*time.Millisecond {
		t.Errorf("first event at +%v, stream end at +%v: buffered?", at[0].Sub(start), end.Sub(start))
	}
	bad, err := http.Get(ts.URL + "/sse?n=-1")
	if err != nil {
		t.Fatal(err)
	}
	bad.Body.Close()
	if bad.StatusCode != 400 {
		t.Errorf("n=-1: %d", bad.StatusCode)
	}
}

func TestStatusRedirectBytes(t *testing.T) {
	ts := newApp(t, ident)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	tests := []struct {
		method, path string
		status       int
		location     string
		length       int64
	}{
		{"GET", "/status/200", 200, "", -2},
		{"POST", "/status/201", 201, "", -2},
		{"GET", "/status/204", 204, "", 0},
		{"GET", "/status/418", 418, "", -2},
		{"DELETE", "/status/503", 503, "", -2},
		{"GET", "/status/abc", 400, "", -2},
		{"GET", "/status/600", 400, "", -2},
		{"GET", "/redirect", 302, "/", -2},
		{"GET", "/redirect?to=http://elsewhere/x&code=307", 307, "http://elsewhere/x", -2},
		{"GET", "/redirect?to=/a/../b", 302, "/a/../b", -2},
		{"GET", "/bytes/100000", 200, "", 100000},
		{"GET", "/bytes/0", 200, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, ts.URL+tt.path, nil)
			resp, err := noRedirect.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			n, _ := io.Copy(io.Discard, resp.Body)
			if resp.StatusCode != tt.status || resp.Header.Get("Location") != tt.location {
				t.Errorf("got %d %q", resp.StatusCode, resp.Header.Get("Location"))
			}
			if tt.length != -2 && n != tt.length {
				t.Errorf("length = %d, want %d", n, tt.length)
			}
		})
	}
}

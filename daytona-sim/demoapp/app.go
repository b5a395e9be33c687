// Package demoapp is the web app that every port of every simulated sandbox
// serves: an HTML page, a JSON echo of the request as the app received it, a
// WebSocket echo, a Server-Sent Events stream and a few helpers for tests.
package demoapp

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// Identity tells the app where it runs.
type Identity struct {
	SandboxID  string
	Port       string
	RunnerID   string
	RunnerName string
}

// App serves one port of one sandbox.
type App struct{ id Identity }

// New returns the app for that sandbox port.
func New(id Identity) *App { return &App{id: id} }

// Limits of the query parameters.
const (
	maxSSEEvents = 100000
	maxSSEDelay  = 60000 // ms
	maxBytes     = 256 << 20
	wsReadLimit  = 16 << 20
)

// ServeHTTP routes on the decoded path:
//
//	GET /             HTML page naming the sandbox, port and runner
//	GET /ws           WebSocket echo (any origin; echoes the first requested subprotocol)
//	GET /sse?n=&ms=   Server-Sent Events, n events ms apart, each flushed
//	ANY /status/{code} answers that status
//	GET /redirect?to=&code= answers a redirect (default 302 to /)
//	GET /bytes/{n}    n bytes of application/octet-stream
//	ANY anything else JSON echo of the request (so /echo and /echo/... too)
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		a.page(w, r)
	case p == "/ws":
		a.ws(w, r)
	case p == "/sse" && r.Method == http.MethodGet:
		a.sse(w, r)
	case strings.HasPrefix(p, "/status/"):
		status(w, strings.TrimPrefix(p, "/status/"))
	case p == "/redirect" && r.Method == http.MethodGet:
		redirect(w, r)
	case strings.HasPrefix(p, "/bytes/") && r.Method == http.MethodGet:
		bytesBody(w, strings.TrimPrefix(p, "/bytes/"))
	default:
		a.echo(w, r)
	}
}

// Cookie is one cookie of Echo.
type Cookie struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Echo is the JSON body of the echo endpoint: the request as the app got it.
type Echo struct {
	SandboxID  string              `json:"sandboxId"`
	Port       string              `json:"port"`
	RunnerID   string              `json:"runnerId"`
	RunnerName string              `json:"runnerName"`
	Method     string              `json:"method"`
	Path       string              `json:"path"`    // decoded
	RawPath    string              `json:"rawPath"` // escaped, as received
	RawQuery   string              `json:"rawQuery"`
	RequestURI string              `json:"requestUri"`
	Host       string              `json:"host"`
	Proto      string              `json:"proto"`
	RemoteAddr string              `json:"remoteAddr"`
	Headers    map[string][]string `json:"headers"`
	Cookies    []Cookie            `json:"cookies"`
	BodyLength int64               `json:"bodyLength"`
	BodySHA256 string              `json:"bodySha256"`
}

func (a *App) echo(w http.ResponseWriter, r *http.Request) {
	h := sha256.New()
	n, err := io.Copy(h, r.Body)
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	e := Echo{
		SandboxID: a.id.SandboxID, Port: a.id.Port, RunnerID: a.id.RunnerID, RunnerName: a.id.RunnerName,
		Method: r.Method, Path: r.URL.Path, RawPath: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery,
		RequestURI: r.RequestURI, Host: r.Host, Proto: r.Proto, RemoteAddr: r.RemoteAddr,
		Headers: r.Header, Cookies: []Cookie{},
		BodyLength: n, BodySHA256: hex.EncodeToString(h.Sum(nil)),
	}
	if e.Headers == nil {
		e.Headers = map[string][]string{}
	}
	for _, c := range r.Cookies() {
		e.Cookies = append(e.Cookies, Cookie{Name: c.Name, Value: c.Value})
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(e)
}

// Hello is the first message of the WebSocket echo when ?hello=1.
type Hello struct {
	SandboxID   string `json:"sandboxId"`
	Port        string `json:"port"`
	RunnerID    string `json:"runnerId"`
	Subprotocol string `json:"subprotocol"`
}

func (a *App) ws(w http.ResponseWriter, r *http.Request) {
	var protos []string
	if p := firstSubprotocol(r.Header); p != "" {
		protos = []string{p}
	}
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true, Subprotocols: protos})
	if err != nil {
		return // Accept has answered the client
	}
	defer func() { _ = c.CloseNow() }()
	c.SetReadLimit(wsReadLimit)
	ctx := r.Context()
	if r.URL.Query().Get("hello") == "1" {
		b, _ := json.Marshal(Hello{SandboxID: a.id.SandboxID, Port: a.id.Port, RunnerID: a.id.RunnerID, Subprotocol: c.Subprotocol()})
		if err := c.Write(ctx, websocket.MessageText, b); err != nil {
			return
		}
	}
	for {
		typ, data, err := c.Read(ctx)
		if err != nil {
			return // a close frame is answered by the library
		}
		if err := c.Write(ctx, typ, data); err != nil {
			return
		}
	}
}

func firstSubprotocol(h http.Header) string {
	for _, v := range h.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				return p
			}
		}
	}
	return ""
}

func intParam(r *http.Request, name string, def, max int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > max {
		return 0, fmt.Errorf("%s must be an integer in 0..%d", name, max)
	}
	return n, nil
}

func (a *App) sse(w http.ResponseWriter, r *http.Request) {
	n, err := intParam(r, "n", 5, maxSSEEvents)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ms, err := intParam(r, "ms", 300, maxSSEDelay)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	delay := time.Duration(ms) * time.Millisecond
	for i := range n {
		if i > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		if _, err := fmt.Fprintf(w, "data: %d %d\n\n", i, time.Now().UnixMilli()); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

func status(w http.ResponseWriter, v string) {
	code, err := strconv.Atoi(v)
	if err != nil || code < 200 || code > 599 {
		http.Error(w, "status must be an integer in 200..599", http.StatusBadRequest)
		return
	}
	if code == http.StatusNoContent || code == http.StatusNotModified {
		w.WriteHeader(code)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, _ = fmt.Fprintf(w, "%d %s\n", code, http.StatusText(code))
}

func redirect(w http.ResponseWriter, r *http.Request) {
	to := r.URL.Query().Get("to")
	if to == "" {
		to = "/"
	}
	code, err := intParam(r, "code", http.StatusFound, 399)
	if err != nil || code < 300 {
		http.Error(w, "code must be in 300..399", http.StatusBadRequest)
		return
	}
	w.Header().Set("Location", to) // verbatim: no cleaning, no absolutizing
	w.WriteHeader(code)
}

func bytesBody(w http.ResponseWriter, v string) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > maxBytes {
		http.Error(w, fmt.Sprintf("n must be an integer in 0..%d", maxBytes), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(n))
	chunk := make([]byte, min(n, 32<<10))
	for i := range chunk {
		chunk[i] = 'a' + byte(i%26)
	}
	for n > 0 {
		k := min(n, len(chunk))
		if _, err := w.Write(chunk[:k]); err != nil {
			return
		}
		n -= k
	}
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.ID.SandboxID}} · port {{.ID.Port}}</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;margin:0;min-height:100vh;display:grid;place-items:center;background:#0f172a;color:#e2e8f0}
main{background:#1e293b;border-radius:12px;padding:2rem 2.5rem;box-shadow:0 10px 30px #0008;max-width:40rem}
h1{margin:0 0 .25rem;font-size:1.5rem}p{margin:.25rem 0 1rem;color:#94a3b8}
dl{display:grid;grid-template-columns:auto 1fr;gap:.35rem 1rem;margin:0}dt{color:#94a3b8}dd{margin:0;font-family:ui-monospace,monospace;word-break:break-all}
a{color:#38bdf8}.ok{color:#4ade80}.bad{color:#f87171}
</style></head><body><main>
<h1>Sandbox <code>{{.ID.SandboxID}}</code></h1>
<p>Served by the Daytona simulator's demo app.</p>
<dl>
<dt>Port</dt><dd>{{.ID.Port}}</dd>
<dt>Runner</dt><dd>{{.ID.RunnerName}} ({{.ID.RunnerID}})</dd>
<dt>Host</dt><dd>{{.Host}}</dd>
<dt>Forwarded host</dt><dd>{{.ForwardedHost}}</dd>
<dt>Served at</dt><dd>{{.Now}}</dd>
<dt>WebSocket</dt><dd id="ws">…</dd>
<dt>SSE</dt><dd id="sse">…</dd>
</dl>
<p><a href="echo">echo</a> · <a href="sse?n=5&amp;ms=300">sse</a> · <a href="status/418">status/418</a></p>
</main>
<script>
(function(){
  var ws=document.getElementById('ws'),sse=document.getElementById('sse');
  try{var s=new WebSocket((location.protocol==='https:'?'wss://':'ws://')+location.host+'/ws');
    s.onopen=function(){s.send('ping')};
    s.onmessage=function(e){ws.textContent='echo: '+e.data;ws.className='ok';s.close()};
    s.onerror=function(){ws.textContent='failed';ws.className='bad'};}catch(e){ws.textContent='failed';ws.className='bad'}
  var n=0,es=new EventSource('/sse?n=3&ms=300');
  es.onmessage=function(e){n++;sse.textContent=n+' event(s), last: '+e.data;sse.className='ok';if(n===3)es.close()};
  es.onerror=function(){if(n<3){sse.textContent='failed';sse.className='bad'}es.close()};
})();
</script>
</body></html>
`))

func (a *App) page(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = pageTmpl.Execute(w, struct {
		ID                       Identity
		Host, ForwardedHost, Now string
	}{a.id, r.Host, r.Header.Get("X-Forwarded-Host"), time.Now().UTC().Format(time.RFC3339)})
}

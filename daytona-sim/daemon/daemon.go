// Package daemon simulates the Daytona daemon that runs inside every sandbox
// (its toolbox API, port 2280): a few toolbox endpoints and the
// /proxy/{port}/{path} route that forwards to the sandbox's apps with
// Host: localhost:{port} and the path's original percent-encoding.
package daemon

import (
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/previewgate/previewgate/daytona-sim/commonerr"
	"github.com/previewgate/previewgate/daytona-sim/demoapp"
)

// ToolboxPort is the daemon's own port: /proxy/2280/... reaches the daemon.
const ToolboxPort = "2280"

// Version is what GET /version answers.
const Version = "v0.0.0-dev"

// RunnerFunc returns the id and name of the runner the sandbox is on now.
type RunnerFunc func() (id, name string)

// Daemon serves one sandbox's toolbox API.
type Daemon struct {
	sandboxID string
	runner    RunnerFunc
}

// New returns the daemon of a sandbox.
func New(sandboxID string, runner RunnerFunc) *Daemon {
	return &Daemon{sandboxID: sandboxID, runner: runner}
}

// ServeHTTP routes on the raw path (never cleaned):
//
//	ANY /proxy/{port}{/path}  the app on that port (the daemon itself for 2280)
//	GET /version              {"version": …}
//	GET /files?path=          FileInfo list of a small fake file system
//	/echo… /ws /sse /status/… /redirect /bytes/…  the demo app's helpers (simulator extras)
//	anything else             404 "404 page not found" (gin's default)
func (d *Daemon) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw := r.URL.EscapedPath()
	switch {
	case strings.HasPrefix(raw, "/proxy/"):
		d.proxy(w, r, strings.TrimPrefix(raw, "/proxy/"))
	case raw == "/version" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]string{"version": Version})
	case (raw == "/files" || raw == "/files/") && r.Method == http.MethodGet:
		listFiles(w, r)
	case raw == "/echo" || strings.HasPrefix(raw, "/echo/") || raw == "/ws" || raw == "/sse" ||
		strings.HasPrefix(raw, "/status/") || raw == "/redirect" || strings.HasPrefix(raw, "/bytes/"):
		d.app(ToolboxPort).ServeHTTP(w, r)
	default:
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte("404 page not found"))
	}
}

func (d *Daemon) app(port string) *demoapp.App {
	id, name := d.runner()
	return demoapp.New(demoapp.Identity{SandboxID: d.sandboxID, Port: port, RunnerID: id, RunnerName: name})
}

// proxy forwards to localhost:{port} like the daemon's ReverseProxy: Host
// becomes localhost:{port}, the path keeps its raw encoding, the query is
// kept and the caller's IP is appended to X-Forwarded-For. The apps run in
// this process, so there is no second TCP hop.
func (d *Daemon) proxy(w http.ResponseWriter, r *http.Request, rest string) {
	port, path, _ := strings.Cut(rest, "/")
	path = "/" + path
	target, err := url.Parse("http://localhost:" + port + path)
	if err != nil || port == "" {
		commonerr.Write(w, r, http.StatusBadRequest, "bad request: failed to parse target URL: invalid port "+strconv.Quote(port))
		return
	}
	out := r.Clone(r.Context())
	out.Host = target.Host
	out.URL.Path, out.URL.RawPath = target.Path, target.RawPath
	out.RequestURI = target.EscapedPath()
	if r.URL.RawQuery != "" {
		out.RequestURI += "?" + r.URL.RawQuery
	}
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		prior := r.Header.Values("X-Forwarded-For")
		out.Header.Set("X-Forwarded-For", strings.Join(append(prior, ip), ", "))
	}
	if port == ToolboxPort {
		d.ServeHTTP(w, out)
		return
	}
	d.app(port).ServeHTTP(w, out)
}

// FileInfo is the daemon's file entry (apps/daemon/pkg/toolbox/fs/types.go).
type FileInfo struct {
	Name        string    `json:"name"`
	Size        int64     `json:"size"`
	Mode        string    `json:"mode"`
	ModTime     string    `json:"modTime"`
	ModifiedAt  time.Time `json:"modifiedAt"`
	IsDir       bool      `json:"isDir"`
	Owner       string    `json:"owner"`
	Group       string    `json:"group"`
	Permissions string    `json:"permissions"`
}

var fsEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func dir(name string) FileInfo {
	return FileInfo{Name: name, Size: 4096, Mode: "drwxr-xr-x", ModTime: fsEpoch.String(), ModifiedAt: fsEpoch,
		IsDir: true, Owner: "daytona", Group: "daytona", Permissions: "0755"}
}

func file(name string, size int64) FileInfo {
	return FileInfo{Name: name, Size: size, Mode: "-rw-r--r--", ModTime: fsEpoch.String(), ModifiedAt: fsEpoch,
		Owner: "daytona", Group: "daytona", Permissions: "0644"}
}

// fakeFS is the sandbox's file system, by directory.
var fakeFS = map[string][]FileInfo{
	"/":                 {dir("home"), dir("tmp"), dir("usr")},
	"/home":             {dir("daytona")},
	"/home/daytona":     {file("README.md", 42), dir("app")},
	"/home/daytona/app": {file("main.py", 512), file("requirements.txt", 16)},
	"/tmp":              {},
	"/usr":              {dir("bin")},
	"/usr/bin":          {file("python3", 5<<20)},
}

// listFiles answers like the daemon's ListFiles: the working directory is
// /home/daytona; a missing directory is a bare 404.
func listFiles(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Query().Get("path")
	switch {
	case p == "" || p == ".":
		p = "/home/daytona"
	case !strings.HasPrefix(p, "/"):
		p = "/home/daytona/" + p
	}
	if len(p) > 1 {
		p = strings.TrimRight(p, "/")
	}
	entries, ok := fakeFS[p]
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if entries == nil {
		entries = []FileInfo{}
	}
	writeJSON(w, http.StatusOK, entries)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

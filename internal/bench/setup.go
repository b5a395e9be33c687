package bench

import (
	"github.com/previewgate/previewgate/internal/stack"
)

// Names of what the benchmark adds to Traefik's configuration.
const (
	runnerKey     = "bench-r1-key"
	noopModule    = "github.com/previewgate/benchnoop"
	rewriteHost   = "3000-demo-public.rewrite.bench"
	rewriteModule = "github.com/previewgate/benchrewrite"
	upstreamSvc   = "bench-upstream"
	runnerPrefix  = "/sandboxes/demo-public/toolbox/proxy/3000"
)

// noopPlugin is the floor: a Yaegi plugin whose ServeHTTP only calls next.
var noopPlugin = stack.LocalPlugin{
	Name:   "benchnoop",
	Module: noopModule,
	Files: map[string]string{
		".traefik.yml": `displayName: previewgate benchmark no-op
type: middleware
import: ` + noopModule + `
summary: Calls the next handler and nothing else (the benchmark's floor).
testData: {}
`,
		"go.mod": "module " + noopModule + "\n\ngo 1.22\n",
		"noop.go": `package benchnoop

import (
	"context"
	"net/http"
)

type Config struct{}

func CreateConfig() *Config { return &Config{} }

type noop struct{ next http.Handler }

func New(ctx context.Context, next http.Handler, config *Config, name string) (http.Handler, error) {
	return &noop{next: next}, nil
}

func (n *noop) ServeHTTP(rw http.ResponseWriter, req *http.Request) { n.next.ServeHTTP(rw, req) }
`,
	},
}

// rewritePlugin is the floor of a cache hit: a Yaegi plugin that does the
// least a hit must (a concurrent map lookup by Host, the runner key header,
// the runner path prefix, the request target cleared, next) and nothing
// else: no credentials, no checks, routing direct. It is a measuring stick,
// not a gateway: it refuses nothing.
var rewritePlugin = stack.LocalPlugin{
	Name:   "benchrewrite",
	Module: rewriteModule,
	Files: map[string]string{
		".traefik.yml": `displayName: previewgate benchmark rewrite floor
type: middleware
import: ` + rewriteModule + `
summary: Rewrites one host's requests toward its runner path and nothing else (the benchmark's floor of a cache hit).
testData:
  host: 3000-x.rewrite.bench
  prefix: /sandboxes/x/toolbox/proxy/3000
  runnerAuth: Bearer key
`,
		"go.mod": "module " + rewriteModule + "\n\ngo 1.22\n",
		"rewrite.go": `package benchrewrite

import (
	"context"
	"net/http"
	"sync"
)

type Config struct {
	Host       string ` + "`json:\"host,omitempty\"`" + `
	Prefix     string ` + "`json:\"prefix,omitempty\"`" + `
	RunnerAuth string ` + "`json:\"runnerAuth,omitempty\"`" + `
}

func CreateConfig() *Config { return &Config{} }

type hit struct {
	auth   []string
	prefix string
}

type rewrite struct {
	next http.Handler
	hits *sync.Map // Host header -> *hit
}

func New(ctx context.Context, next http.Handler, config *Config, name string) (http.Handler, error) {
	r := &rewrite{next: next, hits: &sync.Map{}}
	r.hits.Store(config.Host, &hit{auth: []string{config.RunnerAuth}, prefix: config.Prefix})
	return r, nil
}

func (r *rewrite) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	if v, ok := r.hits.Load(req.Host); ok {
		h := v.(*hit)
		req.Header["X-Daytona-Authorization"] = h.auth
		req.URL.Path = h.prefix + req.URL.Path
		req.RequestURI = ""
	}
	r.next.ServeHTTP(rw, req)
}
`,
	},
}

type m = map[string]interface{}

// benchDynamic adds the comparison routes beside the gateway's own:
//
//	bare.bench               Traefik alone, routing to the runner path
//	noop.bench               the same with the no-op plugin
//	*.rewrite.bench          the same with the rewrite-floor plugin
//	*.direct.bench           our plugin routing direct (one runner): no
//	                         child router
//	*.nocache.bench          our plugin with its cache off (routing direct),
//	                         deciding over the resolver's datagram socket
//	*.nocachehttp.bench      the same without the socket: HTTP decisions
//	*.fauth.bench            Traefik's ForwardAuth to the resolver, plus the
//	                         runner key and path a user would add by hand
//
// Our plugin's instances reach the resolver the way the gateway's own
// middleware does: its address, decision socket and secret file are read
// from it (the stack picks them).
func benchDynamic(upstreamURL string) func(map[string]interface{}) {
	return func(d map[string]interface{}) {
		h := d["http"].(map[string]interface{})
		routers := h["routers"].(map[string]interface{})
		middlewares := h["middlewares"].(map[string]interface{})
		gw := middlewares["previewgate"].(map[string]interface{})["plugin"].(map[string]interface{})["previewgate"].(map[string]interface{})
		resolverURL, decideSocket, secretFile := gw["resolverURL"].(string), gw["resolverSocket"].(string), gw["resolverSecretFile"].(string)
		services := h["services"].(map[string]interface{})
		web := []interface{}{"web"}
		routers["bench-bare"] = m{"entryPoints": web, "rule": "Host(`bare.bench`)", "service": upstreamSvc}
		routers["bench-noop"] = m{"entryPoints": web, "rule": "Host(`noop.bench`)", "service": upstreamSvc,
			"middlewares": []interface{}{"bench-noop"}}
		routers["bench-nocache"] = m{"entryPoints": web, "rule": "Host(`*.nocache.bench`)", "service": upstreamSvc,
			"middlewares": []interface{}{"bench-nocache"}}
		routers["bench-nocache-http"] = m{"entryPoints": web, "rule": "Host(`*.nocachehttp.bench`)", "service": upstreamSvc,
			"middlewares": []interface{}{"bench-nocache-http"}}
		routers["bench-fauth"] = m{"entryPoints": web, "rule": "Host(`*.fauth.bench`)", "service": upstreamSvc,
			"middlewares": []interface{}{"bench-fauth", "bench-fauth-runner", "bench-fauth-path"}}
		routers["bench-direct"] = m{"entryPoints": web, "rule": "Host(`*.direct.bench`)", "service": upstreamSvc,
			"middlewares": []interface{}{"bench-direct"}}
		routers["bench-rewrite"] = m{"entryPoints": web, "rule": "Host(`*.rewrite.bench`)", "service": upstreamSvc,
			"middlewares": []interface{}{"bench-rewrite"}}
		middlewares["bench-noop"] = m{"plugin": m{"benchnoop": m{}}}
		middlewares["bench-rewrite"] = m{"plugin": m{"benchrewrite": m{"host": rewriteHost, "prefix": runnerPrefix, "runnerAuth": "Bearer " + runnerKey}}}
		// Our plugin routing direct to the upstream service, deciding over
		// socket ("": HTTP only), with its cache on or off.
		ours := func(domain, socket string, cacheOff bool) m {
			c := m{"previewDomains": []interface{}{domain}, "resolverURL": resolverURL,
				"resolverSecretFile": secretFile, "routing": "direct"}
			if socket != "" {
				c["resolverSocket"] = socket
			}
			if cacheOff {
				c["cacheSize"] = 0
			}
			return m{"plugin": m{"previewgate": c}}
		}
		middlewares["bench-nocache"] = ours("nocache.bench", decideSocket, true)
		middlewares["bench-nocache-http"] = ours("nocachehttp.bench", "", true)
		// The plugin as shipped for one runner (dynamic-direct.yml): no
		// runner token, so no child router; the rewrite floor's routing.
		middlewares["bench-direct"] = ours("direct.bench", decideSocket, false)
		middlewares["bench-fauth"] = m{"forwardAuth": m{"address": resolverURL + "/v1/forward-auth"}}
		middlewares["bench-fauth-runner"] = m{"headers": m{"customRequestHeaders": m{"X-Daytona-Authorization": "Bearer " + runnerKey}}}
		middlewares["bench-fauth-path"] = m{"replacePathRegex": m{"regex": "^/(.*)", "replacement": runnerPrefix + "/$1"}}
		services[upstreamSvc] = m{"loadBalancer": m{"passHostHeader": false, "servers": []interface{}{m{"url": upstreamURL}}}}
	}
}

// Scenario is one way of reaching the same runner path.
type Scenario struct {
	Name string `json:"name"`
	Doc  string `json:"doc"`
	// Host and Path are what wrk sends to Traefik (or to the upstream when
	// Direct is set).
	Host    string   `json:"host,omitempty"`
	Path    string   `json:"path"`
	Headers []string `json:"headers,omitempty"`
	Direct  bool     `json:"direct,omitempty"`
}

// Scenario names.
const (
	ScRunner       = "runner-direct"
	ScBare         = "traefik-bare"
	ScNoop         = "traefik-noop-plugin"
	ScRewrite      = "traefik-rewrite-plugin"
	ScPublic       = "gateway-public-hit"
	ScToken        = "gateway-token-hit"
	ScCookie       = "gateway-cookie-hit"
	ScNoCache      = "gateway-cache-off"
	ScForwardAuth  = "traefik-forwardauth"
	ScNoCacheHTTP  = "gateway-cache-off-http"
	ScDirect       = "gateway-public-direct"
	privateToken   = "demopreviewtoken0000000000000001"
	runnerAuthHead = "X-Daytona-Authorization: Bearer " + runnerKey
)

func scenarios(cookie string) []Scenario {
	return []Scenario{
		{ScRunner, "wrk to the runner stand-in, no Traefik", "", runnerPrefix + FastPath, []string{runnerAuthHead}, true},
		{ScBare, "Traefik routing to the runner path, no middleware; paired with a scenario, it also sends that scenario's request headers", "bare.bench", runnerPrefix + FastPath, []string{runnerAuthHead}, false},
		{ScNoop, "Traefik with a no-op Yaegi plugin (the floor)", "noop.bench", runnerPrefix + FastPath, []string{runnerAuthHead}, false},
		{ScRewrite, "Traefik with a minimal rewriting Yaegi plugin: sync.Map lookup by Host, runner key header, path prefix, nothing else (the floor of a cache hit)", rewriteHost, FastPath, nil, false},
		{ScPublic, "previewgate, cache hit, public sandbox", "3000-demo-public.localhost", FastPath, nil, false},
		{ScToken, "previewgate, cache hit, private sandbox with X-Daytona-Preview-Token", "3000-demo-private.localhost", FastPath,
			[]string{"X-Daytona-Preview-Token: " + privateToken}, false},
		{ScCookie, "previewgate, cache hit, private sandbox with the auth cookie", "3000-demo-private.localhost", FastPath,
			[]string{"Cookie: theme=dark; daytona-sandbox-auth-demo-private=" + cookie}, false},
		{ScDirect, "previewgate, cache hit, public sandbox, routing direct (one runner, as dynamic-direct.yml): no child router, the rewrite floor's routing", "3000-demo-public.direct.bench", FastPath, nil, false},
		{ScNoCache, "previewgate with the plugin cache off, as shipped: one datagram decision per request", "3000-demo-public.nocache.bench", FastPath, nil, false},
		{ScNoCacheHTTP, "previewgate with the plugin cache off and no resolverSocket: one HTTP decision call per request", "3000-demo-public.nocachehttp.bench", FastPath, nil, false},
		{ScForwardAuth, "Traefik ForwardAuth to the resolver + headers + replacePathRegex", "3000-demo-public.fauth.bench", FastPath, nil, false},
	}
}

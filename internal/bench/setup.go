package bench

import (
	"github.com/previewgate/previewgate/internal/stack"
)

// Names of what the benchmark adds to Traefik's configuration.
const (
	runnerKey    = "bench-r1-key"
	noopModule   = "github.com/previewgate/benchnoop"
	upstreamSvc  = "bench-upstream"
	runnerPrefix = "/sandboxes/demo-public/toolbox/proxy/3000"
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

type m = map[string]interface{}

// benchDynamic adds the comparison routes beside the gateway's own:
//
//	bare.bench               Traefik alone, routing to the runner path
//	noop.bench               the same with the no-op plugin
//	*.nocache.bench          our plugin with its cache off (routing direct),
//	                         deciding over the resolver's datagram socket
//	*.nocachehttp.bench      the same without the socket: HTTP decisions
//	*.fauth.bench            Traefik's ForwardAuth to the resolver, plus the
//	                         runner key and path a user would add by hand
func benchDynamic(upstreamURL, resolverInternal, secretFile, decideSocket string) func(map[string]interface{}) {
	return func(d map[string]interface{}) {
		h := d["http"].(map[string]interface{})
		routers := h["routers"].(map[string]interface{})
		middlewares := h["middlewares"].(map[string]interface{})
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
		middlewares["bench-noop"] = m{"plugin": m{"benchnoop": m{}}}
		// The plugin with its cache off, deciding over socket ("": HTTP).
		cacheOff := func(domain, socket string) m {
			c := m{"previewDomains": []interface{}{domain}, "resolverURL": "http://" + resolverInternal,
				"resolverSecretFile": secretFile, "routing": "direct", "cacheSize": 0}
			if socket != "" {
				c["resolverSocket"] = socket
			}
			return m{"plugin": m{"previewgate": c}}
		}
		middlewares["bench-nocache"] = cacheOff("nocache.bench", decideSocket)
		middlewares["bench-nocache-http"] = cacheOff("nocachehttp.bench", "")
		middlewares["bench-fauth"] = m{"forwardAuth": m{"address": "http://" + resolverInternal + "/v1/forward-auth"}}
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
	ScPublic       = "gateway-public-hit"
	ScToken        = "gateway-token-hit"
	ScCookie       = "gateway-cookie-hit"
	ScNoCache      = "gateway-cache-off"
	ScForwardAuth  = "traefik-forwardauth"
	ScNoCacheHTTP  = "gateway-cache-off-http"
	privateToken   = "demopreviewtoken0000000000000001"
	runnerAuthHead = "X-Daytona-Authorization: Bearer " + runnerKey
)

func scenarios(cookie string) []Scenario {
	return []Scenario{
		{ScRunner, "wrk to the runner stand-in, no Traefik", "", runnerPrefix + FastPath, []string{runnerAuthHead}, true},
		{ScBare, "Traefik routing to the runner path, no middleware; paired with a scenario, it also sends that scenario's request headers", "bare.bench", runnerPrefix + FastPath, []string{runnerAuthHead}, false},
		{ScNoop, "Traefik with a no-op Yaegi plugin (the floor)", "noop.bench", runnerPrefix + FastPath, []string{runnerAuthHead}, false},
		{ScPublic, "previewgate, cache hit, public sandbox", "3000-demo-public.localhost", FastPath, nil, false},
		{ScToken, "previewgate, cache hit, private sandbox with X-Daytona-Preview-Token", "3000-demo-private.localhost", FastPath,
			[]string{"X-Daytona-Preview-Token: " + privateToken}, false},
		{ScCookie, "previewgate, cache hit, private sandbox with the auth cookie", "3000-demo-private.localhost", FastPath,
			[]string{"Cookie: theme=dark; daytona-sandbox-auth-demo-private=" + cookie}, false},
		{ScNoCache, "previewgate with the plugin cache off, as shipped: one datagram decision per request", "3000-demo-public.nocache.bench", FastPath, nil, false},
		{ScNoCacheHTTP, "previewgate with the plugin cache off and no resolverSocket: one HTTP decision call per request", "3000-demo-public.nocachehttp.bench", FastPath, nil, false},
		{ScForwardAuth, "Traefik ForwardAuth to the resolver + headers + replacePathRegex", "3000-demo-public.fauth.bench", FastPath, nil, false},
	}
}

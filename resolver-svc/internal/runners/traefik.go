package runners

import (
	"bytes"
	"encoding/json"
	"net/url"

	"github.com/previewgate/previewgate/plugin"
)

// NamePrefix starts every router and service name in the rendered
// configuration: previewgate-runner-<id>. A router matches the runner's
// token in the Connection header (plugin.RunnerConnectionToken); the routers
// need no middleware to delete it before the runner: a Connection token is
// hop-by-hop, so Traefik's proxy drops it.
const NamePrefix = "previewgate-runner-"

// The dynamic configuration, as Traefik's HTTP provider reads it. Struct
// fields are declared in alphabetical order of their JSON names and maps
// are sorted by encoding/json, so the output is sorted and byte-stable.
type dynamic struct {
	HTTP httpConfig `json:"http"`
}

type httpConfig struct {
	Routers  map[string]router  `json:"routers,omitempty"`
	Services map[string]service `json:"services,omitempty"`
}

type router struct {
	ParentRefs []string `json:"parentRefs"`
	Rule       string   `json:"rule"`
	Service    string   `json:"service"`
}

type service struct {
	LoadBalancer loadBalancer `json:"loadBalancer"`
}

type loadBalancer struct {
	PassHostHeader bool     `json:"passHostHeader"`
	Servers        []server `json:"servers"`
}

type server struct {
	URL string `json:"url"`
	// PreservePath: Traefik keeps the URL's path (a runner behind a path
	// prefix); without it Traefik's proxy drops the path, while Daytona
	// builds {proxyUrl}/sandboxes/... with it.
	PreservePath bool `json:"preservePath,omitempty"`
}

// Rendered is one configuration body and the registry version it shows.
type Rendered struct {
	Body    []byte
	Version uint64
}

// Render returns the dynamic configuration of every known runner. Call
// MarkServed(Version) once the body has been sent to Traefik.
func (r *Registry) Render() Rendered {
	r.mu.RLock()
	version := r.version
	cfg := dynamic{HTTP: httpConfig{
		Routers:  make(map[string]router, len(r.runners)),
		Services: make(map[string]service, len(r.runners)),
	}}
	for id, e := range r.runners {
		// Ids were checked by ValidID ([A-Za-z0-9-]): nothing in them can
		// break out of the rule's backquotes or a name.
		name := NamePrefix + id
		cfg.HTTP.Routers[name] = router{
			ParentRefs: []string{r.parent},
			Rule:       "Header(`Connection`, `" + plugin.RunnerConnectionToken(id) + "`)",
			Service:    name,
		}
		cfg.HTTP.Services[name] = service{LoadBalancer: loadBalancer{
			PassHostHeader: false,
			Servers:        []server{{URL: e.url, PreservePath: hasPath(e.url)}},
		}}
	}
	r.mu.RUnlock()

	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(cfg); err != nil {
		// Only strings, bools and maps of them: cannot fail.
		panic("runners: rendering the configuration: " + err.Error())
	}
	return Rendered{Body: buf.Bytes(), Version: version}
}

// hasPath reports whether a server URL (checked by ValidURL) has a path.
func hasPath(u string) bool {
	p, err := url.Parse(u)
	return err == nil && p.Path != "" && p.Path != "/"
}

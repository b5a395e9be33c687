// Package plugin is previewgate's Traefik middleware: it turns
// https://{port}-{sandboxId}.{previewDomain}/path into a request for the
// sandbox's Daytona runner, /sandboxes/{id}/toolbox/proxy/{port}/path with
// X-Daytona-Authorization set, after the resolver service has said that the
// request may go through. Traefik does the forwarding.
//
// The package uses the standard library only and is written for Traefik's
// Yaegi interpreter (the Go 1.22 subset that Yaegi v0.16.1 runs). Everything
// that can be computed once is computed in New; ServeHTTP only looks things
// up. It never wraps the ResponseWriter: an interpreted wrapper hides
// http.Flusher from Traefik's proxy and buffers streamed responses.
package plugin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

// Version is reported by GET /health on the gateway host.
const Version = "0.1.0"

// Routing modes.
const (
	// RoutingRunners names the runner in the Connection header (RunnerToken)
	// so that Traefik's per-runner child routers (multi-layer routing) pick
	// the runner's service.
	RoutingRunners = "runners"
	// RoutingDirect forwards to the router's one fixed service.
	RoutingDirect = "direct"
)

// Config is the middleware's dynamic configuration. Traefik decodes it
// case-insensitively; durations are strings such as "2s".
type Config struct {
	// PreviewDomains are the domains under which preview hosts live:
	// "preview.example.com" accepts "3000-abc.preview.example.com" (any port).
	// Required.
	PreviewDomains []string `json:"previewDomains,omitempty"`
	// GatewayHosts serve GET /health and the SDK route /toolbox/{id}/{path}.
	// Default: the preview domains themselves.
	GatewayHosts []string `json:"gatewayHosts,omitempty"`
	// ResolverURL is the base URL of the resolver's internal listener. Required.
	ResolverURL string `json:"resolverURL,omitempty"`
	// The shared secret that authenticates the plugin to the resolver: exactly
	// one of ResolverSecret (shown by Traefik's API and dashboard: avoid in
	// production), ResolverSecretFile (a file Traefik can read) or
	// ResolverSecretEnv (an environment variable of the Traefik process).
	ResolverSecret     string `json:"resolverSecret,omitempty"`
	ResolverSecretFile string `json:"resolverSecretFile,omitempty"`
	ResolverSecretEnv  string `json:"resolverSecretEnv,omitempty"`
	// ResolverSocket, if set, is the resolver's unix datagram socket for
	// decisions (its PREVIEWGATE_DECIDE_SOCKET): a path, or an abstract name
	// starting with "@" (Linux). Forward decisions then cost one datagram
	// each way; every other answer still comes from ResolverURL.
	ResolverSocket string `json:"resolverSocket,omitempty"`
	// ResolverTimeout bounds one decision call. Default "3s".
	ResolverTimeout string `json:"resolverTimeout,omitempty"`
	// Routing is "runners" (default: a forwarded request's Connection
	// header names its runner, RunnerToken + id, for Traefik's child
	// routers) or "direct" (one runner, the parent router's service).
	Routing string `json:"routing,omitempty"`
	// CacheSize bounds the decision cache (entries, shared by every router
	// that uses this middleware). 0 turns the cache off. Default 10000.
	CacheSize int `json:"cacheSize,omitempty"`
	// CacheMaxTTL caps the TTL the resolver gives a decision. Default "30s".
	CacheMaxTTL string `json:"cacheMaxTTL,omitempty"`
	// ActivityRepeat is how often, while a forwarded WebSocket (any
	// request that is still upgrading its connection) stays open, the
	// sandbox's last activity is reported again, so that auto-stop does
	// not stop a sandbox whose terminal is in use. Default "50s" (as
	// Daytona's proxy); "0s" turns it off.
	ActivityRepeat string `json:"activityRepeat,omitempty"`
}

// CreateConfig returns the defaults.
func CreateConfig() *Config {
	return &Config{
		ResolverTimeout: "3s",
		Routing:         RoutingRunners,
		CacheSize:       10000,
		CacheMaxTTL:     "30s",
		ActivityRepeat:  "50s",
	}
}

// Configuration errors, wrapped with the offending field.
var (
	ErrConfig = errors.New("invalid previewgate configuration")
)

// New validates the configuration (reporting every problem at once) and
// builds the handler. It makes no network call.
func New(ctx context.Context, next http.Handler, config *Config, name string) (http.Handler, error) {
	if config == nil {
		config = CreateConfig()
	}
	var problems []string
	bad := func(format string, args ...interface{}) {
		problems = append(problems, fmt.Sprintf(format, args...))
	}

	h := &handler{
		serveNext: next.ServeHTTP,
		name:      name,
		gateway:   map[string]bool{},
		targets:   &sync.Map{},
	}

	if len(config.PreviewDomains) == 0 {
		bad("previewDomains: at least one domain is required")
	}
	for _, d := range config.PreviewDomains {
		n, ok := normalizeDomain(d)
		if !ok {
			bad("previewDomains: %q is not a domain name", d)
			continue
		}
		h.suffixes = append(h.suffixes, "."+n)
		if len(config.GatewayHosts) == 0 {
			h.gateway[n] = true
		}
	}
	for _, d := range config.GatewayHosts {
		n, ok := normalizeDomain(d)
		if !ok {
			bad("gatewayHosts: %q is not a host name", d)
			continue
		}
		h.gateway[n] = true
	}

	u, err := url.Parse(config.ResolverURL)
	switch {
	case config.ResolverURL == "":
		bad("resolverURL: required")
	case err != nil:
		bad("resolverURL: %v", err)
	case (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "":
		bad("resolverURL: %q must be an http(s) URL with a host and no query", config.ResolverURL)
	}

	if s := config.ResolverSocket; s != "" && !ValidSocketName(s) {
		bad("resolverSocket: %q must be a socket path or an abstract name starting with '@', at most 107 bytes", s)
	}

	secret, err := loadSecret(config)
	if err != nil {
		bad("%v", err)
	}

	timeout, err := time.ParseDuration(config.ResolverTimeout)
	if err != nil || timeout <= 0 {
		bad("resolverTimeout: %q is not a positive duration", config.ResolverTimeout)
	}

	switch config.Routing {
	case RoutingRunners:
		h.runners = true
	case RoutingDirect:
	default:
		bad("routing: %q must be %q or %q", config.Routing, RoutingRunners, RoutingDirect)
	}

	if config.CacheSize < 0 {
		bad("cacheSize: %d must not be negative", config.CacheSize)
	}
	maxTTL, err := time.ParseDuration(config.CacheMaxTTL)
	if err != nil || maxTTL < 0 {
		bad("cacheMaxTTL: %q is not a duration", config.CacheMaxTTL)
	}

	repeat, err := time.ParseDuration(config.ActivityRepeat)
	if err != nil || repeat < 0 {
		bad("activityRepeat: %q is not a duration", config.ActivityRepeat)
	}

	if len(problems) > 0 {
		return nil, fmt.Errorf("%w %q: %s", ErrConfig, name, strings.Join(problems, "; "))
	}

	// The longest preview domain first: with example.test and
	// preview.example.test, 3000-x.preview.example.test is sandbox x.
	sort.Slice(h.suffixes, func(i, j int) bool { return len(h.suffixes[i]) > len(h.suffixes[j]) })
	h.activityRepeat = repeat
	h.resolver = newResolverClient(strings.TrimRight(config.ResolverURL, "/"), secret, timeout)
	if config.ResolverSocket != "" {
		h.resolver.dgram = newDgramClient(config.ResolverSocket, timeout)
	}
	h.gatewayTarget = newTarget(h.resolver, DecidePath+"/"+RouteGateway, true)
	if config.CacheSize > 0 && maxTTL > 0 {
		// A cache per middleware name and everything a cached decision
		// depends on: a changed configuration starts afresh rather than
		// reuse decisions made for another routing or other hosts.
		h.cache = sharedCache(strings.Join(append([]string{name, config.ResolverURL, config.Routing,
			strings.Join(h.suffixes, ",")}, sortedKeys(h.gateway)...), "\x00"), config.CacheSize)
		h.maxTTL = int64(maxTTL)
		h.hits = &h.cache.m
	} else {
		h.hits = &sync.Map{} // nothing is stored in it
	}
	return h, nil
}

// sortedKeys returns m's keys in order.
func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// normalizeDomain lower-cases d and checks that it is a plain host name.
func normalizeDomain(d string) (string, bool) {
	d = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(d), "."))
	if d == "" || len(d) > 253 || strings.Trim(d, "abcdefghijklmnopqrstuvwxyz0123456789-.") != "" ||
		strings.Contains(d, "..") || d[0] == '.' || d[0] == '-' {
		return "", false
	}
	return d, true
}

// loadSecret reads the one configured source of the shared secret.
func loadSecret(c *Config) (string, error) {
	n := 0
	for _, s := range []string{c.ResolverSecret, c.ResolverSecretFile, c.ResolverSecretEnv} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return "", errors.New("exactly one of resolverSecret, resolverSecretFile and resolverSecretEnv is required")
	}
	secret := c.ResolverSecret
	switch {
	case c.ResolverSecretFile != "":
		b, err := os.ReadFile(c.ResolverSecretFile)
		if err != nil {
			return "", fmt.Errorf("resolverSecretFile: %w", err)
		}
		secret = strings.TrimSpace(string(b))
	case c.ResolverSecretEnv != "":
		secret = strings.TrimSpace(os.Getenv(c.ResolverSecretEnv))
		if secret == "" {
			return "", fmt.Errorf("resolverSecretEnv: %s is empty or unset", c.ResolverSecretEnv)
		}
	}
	if len(secret) < 16 {
		return "", errors.New("resolver secret: must be at least 16 characters")
	}
	return secret, nil
}

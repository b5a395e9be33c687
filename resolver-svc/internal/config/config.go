// Package config builds every package's configuration from the environment,
// once, at start-up. It accepts the variables of Daytona's proxy
// (PROXY_API_KEY, DAYTONA_API_URL, REDIS_*, TOOLBOX_ONLY_MODE,
// API_CLIENT_TIMEOUT_SEC, METRICS_PORT, SHUTDOWN_TIMEOUT_SEC, LOG_LEVEL) so
// that an existing deployment's environment works, plus ours, prefixed
// PREVIEWGATE_. Daytona variables that only matter to the parts we do not
// have yet (OIDC_*, COOKIE_DOMAIN, PROXY_PORT, …) are ignored.
//
// Every default is in the Vars table below, and nowhere else. Load reports
// every problem at once.
package config

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/previewgate/previewgate/plugin"
	"github.com/previewgate/previewgate/resolver-svc/internal/cache"
	"github.com/previewgate/previewgate/resolver-svc/internal/daytona"
	"github.com/previewgate/previewgate/resolver-svc/internal/decide"
	"github.com/previewgate/previewgate/resolver-svc/internal/runners"
	"github.com/previewgate/previewgate/resolver-svc/internal/server"
)

// Var documents one environment variable.
type Var struct {
	Name    string
	Default string
	Doc     string
}

// Routing modes (PREVIEWGATE_ROUTING), as in the plugin's configuration.
const (
	RoutingRunners = "runners"
	RoutingDirect  = "direct"
)

// MinSecretLength is the shortest PREVIEWGATE_SECRET accepted.
const MinSecretLength = 32

// Vars are the variables the resolver reads, with their defaults.
var Vars = []Var{
	// Daytona's names.
	{"PROXY_API_KEY", "", "required (or PROXY_API_KEY_FILE). Sent to the API as Authorization: Bearer <key>; also the hash key of the daytona-sandbox-auth-* cookies"},
	{"DAYTONA_API_URL", "", "required. The API base URL, including /api, e.g. http://api:3000/api"},
	{"API_CLIENT_TIMEOUT_SEC", "60", "seconds one API call may take, every retry included"},
	{"REDIS_HOST", "", "Redis host; empty: the in-memory cache"},
	{"REDIS_PORT", "6379", "Redis port"},
	{"REDIS_USERNAME", "", "Redis ACL user"},
	{"REDIS_PASSWORD", "", "Redis password (or REDIS_PASSWORD_FILE)"},
	{"REDIS_TLS", "false", "connect to Redis with TLS"},
	{"TOOLBOX_ONLY_MODE", "false", "preview hosts serve only port 2280"},
	{"METRICS_PORT", "0", "if not 0, also serve /metrics alone on this port (all interfaces)"},
	{"SHUTDOWN_TIMEOUT_SEC", "15", "seconds to finish open requests on SIGTERM (Daytona's default is 3600; decisions are short)"},
	{"LOG_LEVEL", "info", "debug, info, warn or error"},

	// Ours.
	{"PREVIEWGATE_SECRET", "", "required (or PREVIEWGATE_SECRET_FILE), at least 32 characters. Shared with the plugin and Traefik's HTTP provider (header X-Previewgate-Key)"},
	{"PREVIEWGATE_INTERNAL_ADDR", "127.0.0.1:8081", "decision, Traefik-configuration, metrics and health listener"},
	{"PREVIEWGATE_PUBLIC_ADDR", ":8080", "public listener (health; the sign-in callback later)"},
	{"PREVIEWGATE_ROUTING", RoutingRunners, "runners (per-runner child routers, registration gate) or direct (one fixed service)"},
	{"PREVIEWGATE_PARENT_ROUTER", "previewgate@file", "the Traefik router that runs the plugin, parent of the runner routers (routing runners)"},
	{"PREVIEWGATE_STATIC_RUNNERS", "", "runners known from the start: id=url,id=url"},
	{"PREVIEWGATE_DIRECT_RUNNER", "", "routing direct: the id of the one runner the fixed service reaches; a sandbox on another runner gets 502 (its runner key is not sent); empty: not checked"},
	{"PREVIEWGATE_RUNNER_APPLY_DELAY", "1s", "how long after Traefik fetched the configuration a new runner counts as routable"},
	{"PREVIEWGATE_DECISION_TTL", "15s", "how long the plugin may reuse a forward decision (whole seconds; 0: never)"},
	{"PREVIEWGATE_DECISION_TIMEOUT", "2500ms", "time budget of one decision, then 504 (keep it below the plugin's resolverTimeout)"},
	{"PREVIEWGATE_API_ATTEMPT_TIMEOUT", "2s", "time budget of one HTTP attempt to the API"},
	{"PREVIEWGATE_CACHE_PUBLIC_TTL", "30s", "cache time of a 'public' answer"},
	{"PREVIEWGATE_CACHE_PRIVATE_TTL", "10s", "cache time of a 'private' answer"},
	{"PREVIEWGATE_CACHE_AUTH_VALID_TTL", "2m", "cache time of an accepted credential"},
	{"PREVIEWGATE_CACHE_AUTH_INVALID_TTL", "5s", "cache time of a rejected credential"},
	{"PREVIEWGATE_CACHE_RUNNER_TTL", "2m", "cache time of a sandbox's runner"},
	{"PREVIEWGATE_CACHE_NOT_FOUND_TTL", "5s", "cache time of 'no such sandbox / no runner'"},
	{"PREVIEWGATE_CACHE_MAX_ENTRIES", "100000", "bound of the in-memory cache"},
	{"PREVIEWGATE_REDIS_TIMEOUT", "300ms", "dial and command timeout for Redis"},
	{"PREVIEWGATE_ACTIVITY_INTERVAL", "45s", "at most one last-activity update per sandbox per interval; 0: none"},
	{"PREVIEWGATE_DECIDE_SOCKET", "", "also answer the plugin's decisions on this unix datagram socket (a path, or an abstract name '@...'; the plugin's resolverSocket)"},
	{"PREVIEWGATE_FORWARD_AUTH", "false", "also answer Traefik's ForwardAuth at /v1/forward-auth on the internal listener (allow or deny, no runner key)"},
}

// Unsupported are the variables of Daytona's proxy for what the resolver
// does not do (yet): set in the environment, each is named in a warning
// at start-up (Config.Ignored) rather than silently dropped.
var Unsupported = []struct{ Name, What string }{
	{"PREVIEW_WARNING_ENABLED", "the preview warning page is not implemented: previews are served without it"},
	{"OIDC_CLIENT_ID", "browser sign-in (OIDC) is not implemented"},
	{"OIDC_CLIENT_SECRET", "browser sign-in (OIDC) is not implemented"},
	{"OIDC_DOMAIN", "browser sign-in (OIDC) is not implemented"},
	{"OIDC_PUBLIC_DOMAIN", "browser sign-in (OIDC) is not implemented"},
	{"OIDC_AUDIENCE", "browser sign-in (OIDC) is not implemented"},
	{"COOKIE_DOMAIN", "the resolver issues no cookies yet (sign-in)"},
	{"ENABLE_TLS", "TLS is Traefik's: configure it on Traefik's entry point"},
	{"TLS_CERT_FILE", "TLS is Traefik's: configure it on Traefik's entry point"},
	{"TLS_KEY_FILE", "TLS is Traefik's: configure it on Traefik's entry point"},
	{"PROXY_PORT", "Traefik's entry point is the proxy's port; the resolver listens on PREVIEWGATE_PUBLIC_ADDR"},
}

// secretVars may be given as NAME or NAME_FILE.
var secretVars = map[string]bool{"PROXY_API_KEY": true, "REDIS_PASSWORD": true, "PREVIEWGATE_SECRET": true}

// Config is every package's configuration.
type Config struct {
	Daytona daytona.Config
	Decide  decide.Config
	Server  server.Config
	// Routing is RoutingRunners or RoutingDirect.
	Routing string
	// Runners is used in routing mode "runners".
	Runners runners.Config
	// Redis is nil for the in-memory cache.
	Redis *cache.RedisConfig
	// MemoryEntries bounds the in-memory cache.
	MemoryEntries int
	// CookieKey is the hash key of the auth cookies (PROXY_API_KEY).
	CookieKey []byte
	LogLevel  slog.Level
	// Ignored lists the Unsupported variables that are set (not empty,
	// not "false"), as "NAME: what".
	Ignored []string
}

// ErrInvalid is wrapped by Load's error, which lists every problem.
var ErrInvalid = errors.New("invalid configuration")

// Load reads the configuration from environ (os.Environ's form,
// "NAME=value"). readFile reads the *_FILE secrets.
func Load(environ []string, readFile func(string) ([]byte, error)) (*Config, error) {
	l := &loader{env: map[string]string{}, readFile: readFile, defaults: map[string]string{}}
	for _, v := range Vars {
		l.defaults[v.Name] = v.Default
	}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			l.env[k] = v
		}
	}
	for k := range l.env {
		if strings.HasPrefix(k, "PREVIEWGATE_") {
			if _, known := l.defaults[strings.TrimSuffix(k, "_FILE")]; !known {
				l.bad(k, "unknown variable (a typo?)")
			}
		}
	}

	c := &Config{}

	// Daytona API.
	apiKey := l.secret("PROXY_API_KEY", true)
	apiURL := l.str("DAYTONA_API_URL")
	if apiURL == "" {
		l.bad("DAYTONA_API_URL", "required")
	} else if u, err := url.Parse(apiURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		l.bad("DAYTONA_API_URL", "must be an absolute http(s) URL without query, e.g. http://api:3000/api")
	}
	apiTimeout := l.seconds("API_CLIENT_TIMEOUT_SEC")
	attempt := l.duration("PREVIEWGATE_API_ATTEMPT_TIMEOUT", true)
	c.Daytona = daytona.Config{
		BaseURL:        apiURL,
		APIKey:         apiKey,
		Timeout:        apiTimeout,
		AttemptTimeout: attempt,
	}
	c.CookieKey = []byte(apiKey)

	// Decision.
	decisionTTL := l.duration("PREVIEWGATE_DECISION_TTL", false)
	if decisionTTL%time.Second != 0 {
		l.bad("PREVIEWGATE_DECISION_TTL", "must be whole seconds (the plugin caches in seconds)")
	}
	c.Decide = decide.Config{
		DecisionTTL:      decisionTTL,
		Timeout:          l.duration("PREVIEWGATE_DECISION_TIMEOUT", true),
		LookupTimeout:    apiTimeout,
		PublicTTL:        l.duration("PREVIEWGATE_CACHE_PUBLIC_TTL", true),
		PrivateTTL:       l.duration("PREVIEWGATE_CACHE_PRIVATE_TTL", true),
		AuthValidTTL:     l.duration("PREVIEWGATE_CACHE_AUTH_VALID_TTL", true),
		AuthInvalidTTL:   l.duration("PREVIEWGATE_CACHE_AUTH_INVALID_TTL", true),
		RunnerTTL:        l.duration("PREVIEWGATE_CACHE_RUNNER_TTL", true),
		NotFoundTTL:      l.duration("PREVIEWGATE_CACHE_NOT_FOUND_TTL", true),
		ActivityInterval: l.duration("PREVIEWGATE_ACTIVITY_INTERVAL", false),
		ToolboxOnly:      l.boolean("TOOLBOX_ONLY_MODE"),
		DirectRunner:     l.str("PREVIEWGATE_DIRECT_RUNNER"),
	}

	// Routing.
	c.Routing = l.str("PREVIEWGATE_ROUTING")
	switch c.Routing {
	case RoutingRunners:
		c.Runners = runners.Config{
			ParentRouter: l.str("PREVIEWGATE_PARENT_ROUTER"),
			Static:       l.staticRunners("PREVIEWGATE_STATIC_RUNNERS"),
			ApplyDelay:   l.duration("PREVIEWGATE_RUNNER_APPLY_DELAY", false),
		}
		if p := c.Runners.ParentRouter; p == "" || strings.ContainsAny(p, "`\"' \t") {
			l.bad("PREVIEWGATE_PARENT_ROUTER", "must be a router name such as previewgate@file")
		}
	case RoutingDirect:
	default:
		l.bad("PREVIEWGATE_ROUTING", fmt.Sprintf("must be %q or %q", RoutingRunners, RoutingDirect))
	}

	if dr := c.Decide.DirectRunner; dr != "" && c.Routing != RoutingDirect {
		l.bad("PREVIEWGATE_DIRECT_RUNNER", "only with PREVIEWGATE_ROUTING=direct")
	} else if dr != "" && !runners.ValidID(dr) {
		l.bad("PREVIEWGATE_DIRECT_RUNNER", fmt.Sprintf("must be 1-%d characters of [A-Za-z0-9-]", runners.MaxIDLength))
	}

	// Cache.
	c.MemoryEntries = l.integer("PREVIEWGATE_CACHE_MAX_ENTRIES", 1, 1<<30)
	redisTimeout := l.duration("PREVIEWGATE_REDIS_TIMEOUT", true)
	redisPassword := l.secret("REDIS_PASSWORD", false)
	if host := l.str("REDIS_HOST"); host != "" {
		port := l.integer("REDIS_PORT", 1, 65535)
		c.Redis = &cache.RedisConfig{
			Addr:     net.JoinHostPort(host, strconv.Itoa(port)),
			Username: l.str("REDIS_USERNAME"),
			Password: redisPassword,
			TLS:      l.boolean("REDIS_TLS"),
			Timeout:  redisTimeout,
		}
	}

	// Server.
	secret := l.secret("PREVIEWGATE_SECRET", true)
	if secret != "" && len(secret) < MinSecretLength {
		l.bad("PREVIEWGATE_SECRET", fmt.Sprintf("must be at least %d characters", MinSecretLength))
	}
	if secret != "" && secret == apiKey {
		l.bad("PREVIEWGATE_SECRET", "must differ from PROXY_API_KEY (one secret, one purpose)")
	}
	c.Server = server.Config{
		InternalAddr:    l.addr("PREVIEWGATE_INTERNAL_ADDR"),
		PublicAddr:      l.addr("PREVIEWGATE_PUBLIC_ADDR"),
		Secret:          secret,
		ShutdownTimeout: l.seconds("SHUTDOWN_TIMEOUT_SEC"),
		ForwardAuth:     l.boolean("PREVIEWGATE_FORWARD_AUTH"),
		DecideSocket:    l.str("PREVIEWGATE_DECIDE_SOCKET"),
	}
	if s := c.Server.DecideSocket; s != "" && !plugin.ValidSocketName(s) {
		l.bad("PREVIEWGATE_DECIDE_SOCKET", "must be a socket path or an abstract name starting with '@', at most 107 bytes")
	}
	if c.Server.InternalAddr != "" && c.Server.InternalAddr == c.Server.PublicAddr {
		l.bad("PREVIEWGATE_PUBLIC_ADDR", "must differ from PREVIEWGATE_INTERNAL_ADDR")
	}
	if port := l.integer("METRICS_PORT", 0, 65535); port != 0 {
		c.Server.MetricsAddr = ":" + strconv.Itoa(port)
	}

	switch strings.ToLower(l.str("LOG_LEVEL")) {
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "info", "":
		c.LogLevel = slog.LevelInfo
	case "warn", "warning":
		c.LogLevel = slog.LevelWarn
	case "error":
		c.LogLevel = slog.LevelError
	default:
		l.bad("LOG_LEVEL", "must be debug, info, warn or error")
	}

	for _, u := range Unsupported {
		if v := strings.TrimSpace(l.env[u.Name]); v != "" && !strings.EqualFold(v, "false") && v != "0" {
			c.Ignored = append(c.Ignored, u.Name+": "+u.What)
		}
	}
	if len(l.problems) > 0 {
		sort.Strings(l.problems)
		return nil, fmt.Errorf("%w:\n  %s", ErrInvalid, strings.Join(l.problems, "\n  "))
	}
	return c, nil
}

// Describe writes the variables, their defaults and meaning.
func Describe(w io.Writer) {
	for _, v := range Vars {
		def := v.Default
		if def == "" {
			def = "(none)"
		}
		fmt.Fprintf(w, "%-36s %-18s %s\n", v.Name, def, v.Doc)
	}
}

// Summary describes the loaded configuration without any secret.
func (c *Config) Summary() []any {
	cacheKind := "memory"
	if c.Redis != nil {
		cacheKind = "redis " + c.Redis.Addr
	}
	return []any{
		"api", redacted(c.Daytona.BaseURL),
		"internal_addr", c.Server.InternalAddr,
		"public_addr", c.Server.PublicAddr,
		"metrics_addr", c.Server.MetricsAddr,
		"routing", c.Routing,
		"cache", cacheKind,
		"decision_ttl", c.Decide.DecisionTTL.String(),
		"toolbox_only", c.Decide.ToolboxOnly,
	}
}

type loader struct {
	env      map[string]string
	defaults map[string]string
	readFile func(string) ([]byte, error)
	problems []string
}

func (l *loader) bad(name, problem string) {
	l.problems = append(l.problems, name+": "+problem)
}

// str returns the variable, or its default when unset or empty.
func (l *loader) str(name string) string {
	if v := strings.TrimSpace(l.env[name]); v != "" {
		return v
	}
	return l.defaults[name]
}

// secret reads NAME or the file named by NAME_FILE (not both). The value
// never appears in a problem.
func (l *loader) secret(name string, required bool) string {
	v, file := l.env[name], l.env[name+"_FILE"]
	switch {
	case v != "" && file != "":
		l.bad(name, "set either "+name+" or "+name+"_FILE, not both")
		return ""
	case file != "":
		b, err := l.readFile(file)
		if err != nil {
			l.bad(name+"_FILE", "cannot read the file: "+errText(err))
			return ""
		}
		v = strings.TrimSpace(string(b))
		if v == "" {
			l.bad(name+"_FILE", "the file is empty")
		}
		return v
	case v == "" && required:
		l.bad(name, "required")
	}
	return v
}

// duration parses a Go duration ("15s", "2m"); positive says whether 0 is
// refused. Negative values are always refused.
func (l *loader) duration(name string, positive bool) time.Duration {
	s := l.str(name)
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		l.bad(name, fmt.Sprintf("%q is not a duration such as 15s or 2m", s))
	case d < 0 || (positive && d == 0):
		l.bad(name, "must be positive")
	}
	return d
}

// seconds parses a positive whole number of seconds.
func (l *loader) seconds(name string) time.Duration {
	s := l.str(name)
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		l.bad(name, fmt.Sprintf("%q is not a positive number of seconds", s))
		return 0
	}
	return time.Duration(n) * time.Second
}

func (l *loader) integer(name string, min, max int) int {
	s := l.str(name)
	n, err := strconv.Atoi(s)
	if err != nil || n < min || n > max {
		l.bad(name, fmt.Sprintf("%q is not a whole number from %d to %d", s, min, max))
		return 0
	}
	return n
}

// boolean accepts what strconv.ParseBool does (as Daytona's envconfig).
func (l *loader) boolean(name string) bool {
	s := l.str(name)
	b, err := strconv.ParseBool(s)
	if err != nil {
		l.bad(name, fmt.Sprintf("%q is not true or false", s))
	}
	return b
}

// addr checks a listen address "host:port" (host may be empty).
func (l *loader) addr(name string) string {
	s := l.str(name)
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		l.bad(name, fmt.Sprintf("%q is not host:port", s))
		return ""
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		l.bad(name, fmt.Sprintf("%q has no valid port", s))
		return ""
	}
	return s
}

// staticRunners parses "id=url,id=url".
func (l *loader) staticRunners(name string) map[string]string {
	s := l.str(name)
	if s == "" {
		return nil
	}
	out := map[string]string{}
	tokens := map[string]string{} // plugin.RunnerConnectionToken(id) -> id
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		id, u, ok := strings.Cut(item, "=")
		id, u = strings.TrimSpace(id), strings.TrimSpace(u)
		tok := plugin.RunnerConnectionToken(id)
		switch {
		case !ok:
			l.bad(name, fmt.Sprintf("%q is not id=url", redacted(item)))
		case !runners.ValidID(id):
			l.bad(name, fmt.Sprintf("runner id %q must be 1-%d characters of [A-Za-z0-9-]", id, runners.MaxIDLength))
		case !runners.ValidURL(u):
			l.bad(name, fmt.Sprintf("runner %s: %q is not an http(s) URL without query or user info", id, redacted(u)))
		case out[id] != "":
			l.bad(name, fmt.Sprintf("runner %s is listed twice", id))
		case tokens[tok] != "":
			// Traefik's child routers would not tell them apart (runners.ErrIDCase).
			l.bad(name, fmt.Sprintf("runners %s and %s differ only in case", tokens[tok], id))
		default:
			out[id] = u
			tokens[tok] = id
		}
	}
	return out
}

// redacted is s with the password of a URL's user info replaced (what a
// log line or a configuration error may show of a URL).
func redacted(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		return u.Redacted()
	}
	if strings.Contains(s, "@") {
		return "(a URL with user info)"
	}
	return s
}

// errText keeps the reason of a file error without repeating its path
// (which the operator knows).
func errText(err error) string {
	var pe interface{ Unwrap() error }
	if errors.As(err, &pe) {
		if inner := pe.Unwrap(); inner != nil {
			return inner.Error()
		}
	}
	return err.Error()
}

package sim

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/previewgate/previewgate/daytona-sim/api"
	"github.com/previewgate/previewgate/daytona-sim/runner"
	"github.com/previewgate/previewgate/daytona-sim/world"
)

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("invalid simulator config")

// Defaults.
const (
	DefaultAPIAddr          = "127.0.0.1:3000"
	DefaultProxyAPIKey      = "super_secret_key" // Daytona's dev environment
	DefaultProxyTemplateURL = "http://{{PORT}}-{{sandboxId}}.localhost:8000"
	DefaultOIDCIssuer       = "http://localhost:5556/dex"
	DefaultOIDCClientID     = "daytona"
	DefaultOIDCAudience     = "daytona"
)

// RunnerSpec describes one runner. Only Name is required: ID defaults to a
// UUID derived from the name (r1 → 11111111-1111-4111-8111-111111111111),
// Addr to 127.0.0.1:0, APIKey to "<name>-runner-key" and URL (the proxyUrl
// the API advertises) to http://<the listener's address>.
type RunnerSpec struct {
	Name   string
	ID     string
	Addr   string
	APIKey string
	URL    string
}

var (
	runnerNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	uuidPattern       = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	shortRunnerName   = regexp.MustCompile(`^r([1-9])$`)
)

// ParseRunnerSpec parses "name=addr[,id=UUID][,key=KEY][,url=URL]".
func ParseRunnerSpec(s string) (RunnerSpec, error) {
	head, opts, _ := strings.Cut(s, ",")
	name, addr, ok := strings.Cut(head, "=")
	if !ok || name == "" {
		return RunnerSpec{}, fmt.Errorf("%w: runner %q: want name=addr[,id=UUID][,key=KEY][,url=URL]", ErrConfig, s)
	}
	spec := RunnerSpec{Name: name, Addr: addr}
	if opts == "" {
		return spec, nil
	}
	for _, opt := range strings.Split(opts, ",") {
		k, v, _ := strings.Cut(opt, "=")
		switch k {
		case "id":
			spec.ID = v
		case "key":
			spec.APIKey = v
		case "url":
			spec.URL = v
		default:
			return RunnerSpec{}, fmt.Errorf("%w: runner %q: unknown option %q (id, key, url)", ErrConfig, name, k)
		}
	}
	return spec, nil
}

// DeriveRunnerID returns the UUID a runner gets when none is given: rN
// (N = 1..9) gives NNNNNNNN-NNNN-4NNN-8NNN-NNNNNNNNNNNN, a UUID is kept,
// other names hash to a stable version 4 UUID.
func DeriveRunnerID(name string) string {
	if m := shortRunnerName.FindStringSubmatch(name); m != nil {
		d := m[1]
		return strings.Repeat(d, 8) + "-" + strings.Repeat(d, 4) + "-4" + strings.Repeat(d, 3) +
			"-8" + strings.Repeat(d, 3) + "-" + strings.Repeat(d, 12)
	}
	if uuidPattern.MatchString(name) {
		return name
	}
	b := sha256.Sum256([]byte("daytona-sim runner " + name))
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func (r RunnerSpec) withDefaults() RunnerSpec {
	if r.ID == "" {
		r.ID = DeriveRunnerID(r.Name)
	}
	if r.Addr == "" {
		r.Addr = "127.0.0.1:0"
	}
	if r.APIKey == "" {
		r.APIKey = r.Name + "-runner-key"
	}
	return r
}

// Config configures a whole simulator.
type Config struct {
	APIAddr     string
	ProxyAPIKey string
	Runners     []RunnerSpec
	Seed        world.Seed
	// ProxyTemplateURL is returned by /api/config and builds preview URLs.
	ProxyTemplateURL string
	// ProxyToolboxURL defaults to the template's base host + "/toolbox".
	ProxyToolboxURL string
	OIDC            api.OIDC
	// StoppedDelay is how long a runner takes to answer 400 for a stopped sandbox.
	StoppedDelay time.Duration
	Logger       *slog.Logger
}

// DefaultConfig is the demo simulator: API on 127.0.0.1:3000, runners r1
// and r2 on free ports, the default seed.
func DefaultConfig() Config {
	return Config{
		APIAddr:          DefaultAPIAddr,
		ProxyAPIKey:      DefaultProxyAPIKey,
		Runners:          []RunnerSpec{{Name: "r1"}, {Name: "r2"}},
		Seed:             world.DefaultSeed(),
		ProxyTemplateURL: DefaultProxyTemplateURL,
		OIDC:             api.OIDC{Issuer: DefaultOIDCIssuer, ClientID: DefaultOIDCClientID, Audience: DefaultOIDCAudience},
		StoppedDelay:     runner.DefaultStoppedDelay,
	}
}

// toolboxURLFromTemplate turns "http://{{PORT}}-{{sandboxId}}.host:8000"
// into "http://host:8000/toolbox".
func toolboxURLFromTemplate(tmpl string) (string, bool) {
	base := strings.Replace(tmpl, "{{PORT}}-{{sandboxId}}.", "", 1)
	if base == tmpl {
		return "", false
	}
	return strings.TrimSuffix(base, "/") + "/toolbox", true
}

// normalized returns the config with defaults filled in.
func (c Config) normalized() Config {
	runners := make([]RunnerSpec, len(c.Runners))
	for i, r := range c.Runners {
		runners[i] = r.withDefaults()
	}
	c.Runners = runners
	if c.ProxyToolboxURL == "" {
		c.ProxyToolboxURL, _ = toolboxURLFromTemplate(c.ProxyTemplateURL)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports every problem of the configuration, including the seed's.
func (c Config) Validate() error {
	_, err := c.normalized().build()
	return err
}

// build checks the configuration and returns the world it describes.
func (c Config) build() (*world.World, error) {
	var errs []error
	if _, _, err := net.SplitHostPort(c.APIAddr); err != nil {
		errs = append(errs, fmt.Errorf("%w: api address %q: %w", ErrConfig, c.APIAddr, err))
	}
	if c.ProxyAPIKey == "" {
		errs = append(errs, fmt.Errorf("%w: empty proxy api key", ErrConfig))
	}
	if c.ProxyToolboxURL == "" {
		errs = append(errs, fmt.Errorf("%w: cannot derive the toolbox url from the template %q: set it", ErrConfig, c.ProxyTemplateURL))
	}
	if c.StoppedDelay < 0 {
		errs = append(errs, fmt.Errorf("%w: negative stopped-sandbox delay", ErrConfig))
	}
	if len(c.Runners) == 0 {
		errs = append(errs, fmt.Errorf("%w: at least one runner is required", ErrConfig))
	}
	apiCfg := api.Config{World: world.New(), ProxyAPIKey: c.ProxyAPIKey, ProxyTemplateURL: c.ProxyTemplateURL,
		ProxyToolboxURL: c.ProxyToolboxURL, OIDC: c.OIDC}
	if err := apiCfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	w := world.New()
	for _, r := range c.Runners {
		errs = append(errs, c.checkRunner(r)...)
		if err := w.AddRunner(world.Runner{ID: r.ID, Name: r.Name, APIKey: r.APIKey}); err != nil {
			errs = append(errs, fmt.Errorf("%w: %w", ErrConfig, err))
		}
	}
	if err := w.Apply(c.Seed); err != nil {
		errs = append(errs, fmt.Errorf("%w: seed: %w", ErrConfig, err))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return w, nil
}

func (c Config) checkRunner(r RunnerSpec) []error {
	var errs []error
	if !runnerNamePattern.MatchString(r.Name) {
		errs = append(errs, fmt.Errorf("%w: runner name %q must match %s", ErrConfig, r.Name, runnerNamePattern))
	}
	if !uuidPattern.MatchString(r.ID) {
		errs = append(errs, fmt.Errorf("%w: runner %q: id %q is not a lower-case UUID", ErrConfig, r.Name, r.ID))
	}
	if _, _, err := net.SplitHostPort(r.Addr); err != nil {
		errs = append(errs, fmt.Errorf("%w: runner %q: address %q: %w", ErrConfig, r.Name, r.Addr, err))
	}
	if r.APIKey == c.ProxyAPIKey || strings.ContainsAny(r.APIKey, " \t") {
		errs = append(errs, fmt.Errorf("%w: runner %q: the api key must differ from the proxy key and have no spaces", ErrConfig, r.Name))
	}
	if r.URL != "" {
		if u, err := url.Parse(r.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			errs = append(errs, fmt.Errorf("%w: runner %q: url %q must be http(s)://host[:port]", ErrConfig, r.Name, r.URL))
		}
	}
	return errs
}

// Package decide is the resolver's use case: given what the plugin saw of a
// request (route, sandbox, port, credentials), decide whether Traefik
// forwards it to the sandbox's runner, or answers the client itself.
//
// The order follows Daytona's proxy, with our deliberate changes:
//
//  1. the runner lookup comes first (cached), so an unknown sandbox is a
//     clear 404 "sandbox not found" instead of Daytona's 400;
//  2. the public check (cached, short TTL; skipped for the toolbox route
//     and for ports 22222, 2280 and 33333, which always need credentials);
//  3. credentials in Daytona's order: bearer (checked as the user),
//     X-Daytona-Preview-Token, DAYTONA_SANDBOX_AUTH_KEY, the auth cookie;
//     validity cached per (sandbox, SHA-256 of the token), never per token;
//  4. a 401 that says what to send (a sign-in redirect is a later step:
//     see Decider.challenge).
//
// API failures are never cached and become 502 (or 504 on timeout), not
// "invalid". Concurrent misses for one key share one API call
// (singleflight).
package decide

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/previewgate/previewgate/plugin"
	"github.com/previewgate/previewgate/resolver-svc/internal/daytona"
)

// Config holds the decision's tunables; internal/config fills it from the
// environment (the defaults are there).
type Config struct {
	// DecisionTTL is how long the plugin may reuse a forward decision
	// (whole seconds; 0: not at all).
	DecisionTTL time.Duration
	// Timeout bounds one decision. Past it the answer is 504; the API
	// lookups started go on and fill the cache.
	Timeout time.Duration
	// LookupTimeout bounds one shared (singleflight) lookup, which runs
	// detached from the request that started it.
	LookupTimeout time.Duration
	// MaxDetachedLookups bounds the lookups that may outlive their callers
	// at once; past it a lookup stays tied to the caller that started it
	// (as Daytona's are), so that many distinct credentials against a slow
	// API do not pile up API calls and goroutines. Default 1024.
	MaxDetachedLookups int

	// Cache TTLs: public and private sandboxes, valid and invalid
	// credentials, runner lookups, and unknown sandboxes.
	PublicTTL, PrivateTTL        time.Duration
	AuthValidTTL, AuthInvalidTTL time.Duration
	RunnerTTL, NotFoundTTL       time.Duration

	// ActivityInterval: at most one last-activity update per sandbox per
	// interval (Daytona: 45 s). 0 turns updates off.
	ActivityInterval time.Duration
	// ActivityConcurrency bounds the updates in flight. Default 16.
	ActivityConcurrency int

	// ToolboxOnly (TOOLBOX_ONLY_MODE): preview hosts serve port 2280 only.
	ToolboxOnly bool
	// DirectRunner, in routing mode "direct" (no Runners), is the id of the
	// one runner the router's fixed service reaches: a sandbox on another
	// runner gets 502, and that runner's key is never sent to this one.
	// "": not checked.
	DirectRunner string
}

// Deps are the decision's collaborators. Runners is nil in routing mode
// "direct" (no registration gate); Observer and Logger are optional.
type Deps struct {
	API      API
	Cache    Cache
	Cookies  Cookies
	Runners  Runners
	Observer Observer
	Logger   *slog.Logger
}

// Decider makes decisions. It is safe for concurrent use.
type Decider struct {
	cfg      Config
	api      API
	cache    Cache
	cookies  Cookies
	runners  Runners
	obs      Observer
	log      *slog.Logger
	flights  singleflight.Group
	detached chan struct{} // a slot per lookup running detached
	activity *activity
	ttl      int // DecisionTTL in whole seconds
}

// New checks cfg and deps and returns a Decider. Call Close to wait for
// background work.
func New(cfg Config, deps Deps) (*Decider, error) {
	var problems []error
	if deps.API == nil || deps.Cache == nil || deps.Cookies == nil {
		problems = append(problems, errors.New("decide: API, Cache and Cookies are required"))
	}
	for name, d := range map[string]time.Duration{
		"PublicTTL": cfg.PublicTTL, "PrivateTTL": cfg.PrivateTTL,
		"AuthValidTTL": cfg.AuthValidTTL, "AuthInvalidTTL": cfg.AuthInvalidTTL,
		"RunnerTTL": cfg.RunnerTTL, "NotFoundTTL": cfg.NotFoundTTL,
		"Timeout": cfg.Timeout, "LookupTimeout": cfg.LookupTimeout,
	} {
		if d <= 0 {
			problems = append(problems, fmt.Errorf("decide: %s must be positive", name))
		}
	}
	if cfg.DecisionTTL < 0 || cfg.ActivityInterval < 0 {
		problems = append(problems, errors.New("decide: DecisionTTL and ActivityInterval must not be negative"))
	}
	if err := errors.Join(problems...); err != nil {
		return nil, err
	}
	if deps.Observer == nil {
		deps.Observer = nopObserver{}
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ActivityConcurrency <= 0 {
		cfg.ActivityConcurrency = 16
	}
	if cfg.MaxDetachedLookups <= 0 {
		cfg.MaxDetachedLookups = 1024
	}
	d := &Decider{
		cfg:      cfg,
		api:      deps.API,
		cache:    deps.Cache,
		cookies:  deps.Cookies,
		runners:  deps.Runners,
		obs:      deps.Observer,
		log:      deps.Logger,
		ttl:      int(cfg.DecisionTTL / time.Second),
		detached: make(chan struct{}, cfg.MaxDetachedLookups),
	}
	d.activity = newActivity(d, cfg.ActivityInterval, cfg.ActivityConcurrency)
	return d, nil
}

// Close waits for the last-activity updates in flight and refuses new ones.
func (d *Decider) Close() { d.activity.close() }

// Touch records activity on the sandbox as a forward decision does (at
// most once per interval, shared through the cache): the plugin reports
// an open WebSocket's sandbox this way.
func (d *Decider) Touch(sandbox string) {
	if plugin.ValidSandboxID(sandbox) {
		d.activity.touch(sandbox)
	}
}

// Decide answers one decision request. It never returns an error: every
// failure is a Decision with a status.
func (d *Decider) Decide(ctx context.Context, req Request) Decision {
	var port string
	switch req.Route {
	case plugin.RouteGateway:
		return respond(OutcomeGateway, http.StatusNotFound, msgGateway)
	case plugin.RoutePreview:
		if !plugin.ValidSandboxID(req.Sandbox) {
			return badRequest(msgBadSandbox)
		}
		p, ok := plugin.ParsePort(req.Port)
		if !ok {
			return badRequest(msgBadPort)
		}
		port = strconv.Itoa(p)
		// Before any credential, as in Daytona's proxy.
		if d.cfg.ToolboxOnly && p != plugin.PortToolbox {
			return respond(OutcomeToolboxOnly, http.StatusNotFound, msgToolboxOnly)
		}
		if plugin.IsSignedToken(req.Sandbox) {
			return d.signedToken(ctx, req)
		}
	case plugin.RouteToolbox:
		if !plugin.ValidSandboxID(req.Sandbox) {
			return badRequest(msgBadSandbox)
		}
		port = strconv.Itoa(plugin.PortToolbox)
	case plugin.RouteSandboxBuildLogs, plugin.RouteSnapshotBuildLogs:
		return d.buildLogs(ctx, req)
	default:
		return badRequest(msgBadRoute)
	}

	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	id := req.Sandbox

	// 1. The runner, first: an unknown sandbox is a clear 404.
	runner, err := d.runner(ctx, id)
	if err != nil {
		if errors.Is(err, daytona.ErrNotFound) {
			return d.with(respond(OutcomeNotFound, http.StatusNotFound, msgNotFound), id, nil)
		}
		return d.with(failure(ctx, err), id, err)
	}
	if err := d.admitRunner(runner); err != nil {
		return d.with(respond(OutcomeBadRunner, http.StatusBadGateway, msgBadRunner), id, err)
	}

	// 2. Public sandboxes need no credential, except on the ports that
	// always do (and the toolbox route, which counts as port 2280).
	outcome := OutcomePublic
	needAuth := req.Route == plugin.RouteToolbox || plugin.AlwaysAuthPort(port)
	if !needAuth {
		public, err := d.public(ctx, id)
		if err != nil {
			return d.with(failure(ctx, err), id, err)
		}
		needAuth = !public
	}

	// 3. Credentials.
	if needAuth {
		res := d.authenticate(ctx, req)
		if !res.ok {
			if res.err != nil {
				return d.with(failure(ctx, res.err), id, res.err)
			}
			return d.with(d.challenge(req, res), id, nil)
		}
		outcome = res.outcome
	}

	// 4. Traefik must know the runner before a request is routed to it.
	if !d.routed(runner.ID) {
		return d.with(registering(), id, nil)
	}

	// A decision made without an activity update is not for reuse: the
	// plugin would forward later requests of the same host and credentials
	// under it, and their activity would go unreported (a monitor polling
	// with the skip flag would keep a sandbox in use from ever counting as
	// active). TTL 0: the plugin does not cache it.
	ttl := time.Duration(d.ttl) * time.Second
	if req.SkipActivity {
		ttl = 0
	} else {
		d.activity.touch(id)
	}

	prefix := "/sandboxes/" + id + "/toolbox"
	if req.Route == plugin.RoutePreview {
		prefix += "/proxy/" + port
	}
	return Decision{
		Outcome: outcome,
		Sandbox: id,
		Forward: &Forward{
			Runner:             runner.ID,
			RunnerAuth:         "Bearer " + runner.APIKey,
			Prefix:             prefix,
			StripAuthorization: outcome == OutcomeBearer,
			TTL:                ttl,
		},
	}
}

// signedToken answers a preview host whose label is a signed preview
// token. Resolving it (GET /preview/{token}/{port}/sandbox-id) and setting
// the cookie belong to the sign-in issue; until then such hosts get a clear
// 401 rather than Daytona's OIDC redirect.
func (d *Decider) signedToken(_ context.Context, _ Request) Decision {
	return respond(OutcomeSignedToken, http.StatusUnauthorized, msgSignedToken)
}

// challenge is the answer when no credential was accepted. The sign-in
// issue adds a redirect to the identity provider here for browser requests
// on preview routes; the toolbox route always gets the 401.
func (d *Decider) challenge(_ Request, res authResult) Decision {
	if len(res.rejected) == 0 {
		return respond(OutcomeMissingAuth, http.StatusUnauthorized, msgMissingAuth)
	}
	msg := msgAuthFailed
	for i, r := range res.rejected {
		if i > 0 {
			msg += "; "
		}
		msg += r
	}
	return respond(OutcomeInvalidAuth, http.StatusUnauthorized, msg)
}

// failure maps a technical error to 504 (timeout) or 502.
func failure(ctx context.Context, err error) Decision {
	switch {
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		return respond(OutcomeCanceled, http.StatusServiceUnavailable, msgUnavailable)
	case errors.Is(err, daytona.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return respond(OutcomeTimeout, http.StatusGatewayTimeout, msgTimeout)
	default:
		return respond(OutcomeUnavailable, http.StatusBadGateway, msgUnavailable)
	}
}

// admitRunner makes the runner routable: learned by Traefik's registry
// (routing runners), or the one the fixed service reaches (routing direct,
// when PREVIEWGATE_DIRECT_RUNNER names it). An error is a runner this
// gateway cannot reach: a 502, whatever the credentials.
func (d *Decider) admitRunner(r daytona.Runner) error {
	if d.runners != nil {
		return d.runners.Learn(r.ID, r.URL)
	}
	if d.cfg.DirectRunner != "" && r.ID != d.cfg.DirectRunner {
		return errOtherRunner
	}
	return nil
}

// routed reports whether Traefik routes the runner already (always in
// routing direct).
func (d *Decider) routed(runnerID string) bool {
	return d.runners == nil || d.runners.Ready(runnerID)
}

// registering is the answer while Traefik does not route the runner yet.
func registering() Decision {
	dec := respond(OutcomeRegistering, http.StatusServiceUnavailable, msgRegistering)
	dec.RetryAfter = 1
	return dec
}

func (d *Decider) with(dec Decision, sandbox string, err error) Decision {
	dec.Sandbox, dec.Err = sandbox, err
	return dec
}

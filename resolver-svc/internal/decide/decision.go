package decide

import (
	"net/http"
	"time"
)

// Request is what the plugin asks about one client request (the fields of
// the contract's decision request headers that matter to the decision).
type Request struct {
	// Route is plugin.RoutePreview, RouteToolbox or RouteGateway.
	Route string
	// Sandbox is the sandbox id, or a signed preview token (preview hosts).
	Sandbox string
	// Port is the decimal port of a preview host; ignored for toolbox.
	Port string
	// ClientIP is the client's address as Traefik saw it.
	ClientIP string

	// Credentials, in Daytona's order of trial. Empty when absent.
	Bearer       string // Authorization: Bearer <token>
	PreviewToken string // X-Daytona-Preview-Token
	QueryToken   string // ?DAYTONA_SANDBOX_AUTH_KEY=
	Cookie       string // daytona-sandbox-auth-<Sandbox>

	// SkipActivity: the client sent X-Daytona-Skip-Last-Activity-Update: true.
	SkipActivity bool
}

// Outcome labels a decision in logs and metrics. The set is closed.
type Outcome string

// Outcomes.
const (
	// Forwarded, by the credential that let the request through.
	OutcomePublic       Outcome = "forward_public"
	OutcomeBearer       Outcome = "forward_bearer"
	OutcomePreviewToken Outcome = "forward_preview_token"
	OutcomeQueryToken   Outcome = "forward_query_token"
	OutcomeCookie       Outcome = "forward_cookie"
	OutcomeBuildLogs    Outcome = "forward_build_logs" // a build-log route, the user's bearer accepted by the API

	OutcomeBadRequest  Outcome = "bad_request"  // 400: the plugin sent something malformed
	OutcomeNotFound    Outcome = "not_found"    // 404: unknown sandbox, no runner
	OutcomeGateway     Outcome = "gateway"      // 404: anything else on the gateway host
	OutcomeToolboxOnly Outcome = "toolbox_only" // 404: TOOLBOX_ONLY_MODE and port != 2280
	OutcomeMissingAuth Outcome = "missing_auth" // 401: no credential sent
	OutcomeInvalidAuth Outcome = "invalid_auth" // 401: every credential sent was rejected
	OutcomeSignedToken Outcome = "signed_token" // 401: signed preview URLs (later issue)
	OutcomeRegistering Outcome = "registering"  // 503: Traefik does not know the runner yet
	OutcomeUnavailable Outcome = "unavailable"  // 502: the API could not answer
	OutcomeTimeout     Outcome = "timeout"      // 504: the API did not answer in time
	OutcomeBadRunner   Outcome = "bad_runner"   // 502: the runner's id or URL cannot be routed
	OutcomeCanceled    Outcome = "canceled"     // the plugin went away
)

// Forward is a decision to send the request to the sandbox's runner.
type Forward struct {
	// Runner is the runner id (X-Previewgate-Runner).
	Runner string
	// RunnerAuth is the whole X-Daytona-Authorization value: "Bearer <key>".
	RunnerAuth string
	// Prefix is the upstream path prefix.
	Prefix string
	// StripAuthorization: the client's Authorization header was the
	// accepted credential and must not reach the sandbox.
	StripAuthorization bool
	// TTL is how long the plugin may reuse the decision.
	TTL time.Duration
	// SnapshotRef is set for the build-log routes (Prefix is then
	// plugin.BuildLogsPath, the whole upstream path).
	SnapshotRef string
}

// Decision is the answer to a Request: Forward is set, or Status and
// Message describe the response the plugin sends to the client.
type Decision struct {
	Outcome Outcome
	Forward *Forward

	// Respond fields: the status, and Daytona's "message" text. The
	// message is meant for the client and never holds internals.
	Status  int
	Message string
	// RetryAfter, when positive, is sent as Retry-After (seconds).
	RetryAfter int

	// Sandbox is the sandbox id the decision is about ("" when unknown or
	// when the host holds a signed token); safe to log.
	Sandbox string
	// Err is the internal cause, for logs only.
	Err error
}

// Messages sent to clients. They follow Daytona's "<status text>: <detail>"
// style.
const (
	msgMissingAuth = "unauthorized: missing authentication: send a preview token in the X-Daytona-Preview-Token header " +
		"or the DAYTONA_SANDBOX_AUTH_KEY query parameter, or an API key or JWT as Authorization: Bearer"
	msgSignedToken    = "unauthorized: signed preview URLs are not supported by this gateway yet: use the sandbox's standard preview URL with its preview token"
	msgNotFound       = "not found: sandbox not found"
	msgBuildAuth      = "unauthorized: build logs need the user's API key or JWT in Authorization: Bearer"
	msgBuildDenied    = "unauthorized: the API refused the API key or JWT sent as Authorization: Bearer"
	msgBuildMissing   = "not found: no such sandbox or snapshot, or no access to it"
	msgBuildForbidden = "forbidden: the API key sent as Authorization: Bearer may not read this"
	msgNoBuildInfo    = "bad request: sandbox has no build info"
	msgNoSnapRef      = "bad request: snapshot has no snapshot reference"
	msgNoBuildRun     = "bad request: the build has no runner"
	msgBuildRunner    = "bad gateway: the runner's API URL differs from its proxy URL: its build logs cannot be routed through this gateway"
	msgGateway        = "not found: not found"
	msgToolboxOnly    = "not found: this gateway serves only the toolbox port 2280"
	msgUnavailable    = "bad gateway: the Daytona API is unavailable, please retry"
	msgTimeout        = "gateway timeout: the Daytona API did not answer in time, please retry"
	msgBadRunner      = "bad gateway: the sandbox's runner cannot be reached through this gateway"
	msgRegistering    = "service unavailable: sandbox runner is being registered, retry in a second"
	msgBadRoute       = "bad request: unknown route"
	msgBadSandbox     = "bad request: invalid sandbox id"
	msgBadPort        = "bad request: invalid port: expected 1 to 65535"
	msgAuthFailed     = "unauthorized: authentication failed: "
	msgBadBearer      = "the API key or JWT sent as Authorization: Bearer has no access to this sandbox"
	msgBadHeaderTok   = "invalid preview token in the X-Daytona-Preview-Token header"
	msgBadQueryTok    = "invalid preview token in the DAYTONA_SANDBOX_AUTH_KEY query parameter"
	msgBadCookie      = "invalid sandbox auth cookie"
	msgOldCookie      = "expired sandbox auth cookie: sign in again"
)

func respond(o Outcome, status int, msg string) Decision {
	return Decision{Outcome: o, Status: status, Message: msg}
}

func badRequest(msg string) Decision { return respond(OutcomeBadRequest, http.StatusBadRequest, msg) }

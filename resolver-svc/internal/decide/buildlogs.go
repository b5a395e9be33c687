package decide

import (
	"context"
	"errors"
	"net/http"

	"github.com/previewgate/previewgate/plugin"
	"github.com/previewgate/previewgate/resolver-svc/internal/daytona"
)

// buildLogs decides GET /sandboxes/{id}/build-logs and GET
// /snapshots/{id}/build-logs on the gateway host, as Daytona's proxy does:
// the API, asked with the user's own bearer token, names the build's
// snapshot ref and runner (GET /sandbox/{id}: buildInfo.snapshotRef and
// runnerId; GET /snapshots/{id}: ref and initialRunnerId); the runner's
// apiUrl serves the logs at plugin.BuildLogsPath with X-Daytona-Authorization.
// The user's Authorization goes no further, the decision is never cached
// and the sandbox's activity is not touched.
func (d *Decider) buildLogs(ctx context.Context, req Request) Decision {
	if !plugin.ValidBuildLogsID(req.Sandbox) {
		return badRequest(msgBadSandbox)
	}
	if req.Bearer == "" {
		return respond(OutcomeMissingAuth, http.StatusUnauthorized, msgBuildAuth)
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()

	var (
		src     daytona.BuildSource
		err     error
		missing = msgNoBuildInfo
	)
	if req.Route == plugin.RouteSandboxBuildLogs {
		src, err = d.api.SandboxBuild(ctx, req.Sandbox, req.Bearer, req.ClientIP)
	} else {
		src, err = d.api.SnapshotBuild(ctx, req.Sandbox, req.Bearer, req.ClientIP)
		missing = msgNoSnapRef
	}
	var apiErr *daytona.APIError
	switch {
	case errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusUnauthorized:
		return respond(OutcomeInvalidAuth, http.StatusUnauthorized, msgBuildDenied)
	case errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusForbidden:
		// An API key without the permission: the API's status, as Daytona's
		// proxy passes it on.
		return respond(OutcomeInvalidAuth, http.StatusForbidden, msgBuildForbidden)
	case errors.Is(err, daytona.ErrNotFound):
		return respond(OutcomeNotFound, http.StatusNotFound, msgBuildMissing)
	case err != nil:
		return failure(ctx, err)
	case src.SnapshotRef == "":
		return badRequest(missing)
	case src.RunnerID == "":
		return badRequest(msgNoBuildRun)
	}

	// The runner; Daytona caches it for two minutes, we do not: a build's
	// logs are asked for rarely.
	runner, err := d.api.RunnerFull(ctx, src.RunnerID)
	switch {
	case errors.Is(err, daytona.ErrNotFound):
		return respond(OutcomeBadRunner, http.StatusBadGateway, msgBadRunner)
	case err != nil:
		return failure(ctx, err)
	case runner.APIURL != runner.URL:
		// Traefik routes a runner id to its proxyUrl.
		return respond(OutcomeBadRunner, http.StatusBadGateway, msgBuildRunner)
	}
	if err := d.admitRunner(runner); err != nil {
		return d.with(respond(OutcomeBadRunner, http.StatusBadGateway, msgBadRunner), "", err)
	}
	if !d.routed(runner.ID) {
		return registering()
	}
	return Decision{
		Outcome: OutcomeBuildLogs,
		Forward: &Forward{
			Runner:             runner.ID,
			RunnerAuth:         "Bearer " + runner.APIKey,
			Prefix:             plugin.BuildLogsPath,
			StripAuthorization: true,
			SnapshotRef:        src.SnapshotRef,
		},
	}
}

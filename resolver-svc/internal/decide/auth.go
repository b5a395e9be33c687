package decide

import (
	"context"
	"errors"

	"github.com/previewgate/previewgate/resolver-svc/internal/authcookie"
)

// authResult is the outcome of trying the request's credentials.
type authResult struct {
	ok      bool
	outcome Outcome // the credential that was accepted
	// rejected lists client-facing reasons, one per credential the API (or
	// the cookie check) definitely refused, in the order tried.
	rejected []string
	// err is the first technical fault: when nothing succeeded and a check
	// could not be made, the answer is 502/504, not 401.
	err error
}

// authenticate tries the credentials in Daytona's order; the first that
// is accepted wins. Every step is skipped when its credential is absent.
func (d *Decider) authenticate(ctx context.Context, req Request) authResult {
	var res authResult
	id := req.Sandbox
	fault := func(err error) {
		if res.err == nil {
			res.err = err
		}
	}

	// 1. Authorization: Bearer <JWT or API key>, checked as the user.
	if req.Bearer != "" {
		ok, err := d.bearerValid(ctx, id, req.Bearer, req.ClientIP)
		switch {
		case err != nil:
			fault(err)
		case ok:
			return authResult{ok: true, outcome: OutcomeBearer}
		default:
			res.rejected = append(res.rejected, msgBadBearer)
		}
	}

	// 2. X-Daytona-Preview-Token, 3. ?DAYTONA_SANDBOX_AUTH_KEY=.
	for _, t := range []struct {
		token    string
		outcome  Outcome
		rejected string
	}{
		{req.PreviewToken, OutcomePreviewToken, msgBadHeaderTok},
		{req.QueryToken, OutcomeQueryToken, msgBadQueryTok},
	} {
		if t.token == "" {
			continue
		}
		ok, err := d.previewTokenValid(ctx, id, t.token)
		switch {
		case err != nil:
			fault(err)
		case ok:
			return authResult{ok: true, outcome: t.outcome}
		default:
			res.rejected = append(res.rejected, t.rejected)
		}
	}

	// 4. The daytona-sandbox-auth-<id> cookie: a signature check, no API
	// call. It must grant this very sandbox.
	if req.Cookie != "" {
		granted, err := d.cookies.Verify(id, req.Cookie)
		switch {
		case err == nil && granted == id:
			return authResult{ok: true, outcome: OutcomeCookie}
		case errors.Is(err, authcookie.ErrExpired):
			res.rejected = append(res.rejected, msgOldCookie)
		default:
			res.rejected = append(res.rejected, msgBadCookie)
		}
	}
	return res
}

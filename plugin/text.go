package plugin

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// hasDotSegment reports whether the decoded path p has a "." or ".."
// segment, splitting on '/' and on '\'. Traefik cleans literal dot segments
// before the plugin runs, but not those that only appear after decoding
// (%2e%2e%2f, ..%2f, %5c): a runner or app that decodes and cleans the path
// would otherwise climb out of /sandboxes/{id}/toolbox/proxy/{port}.
func hasDotSegment(p string) bool {
	if strings.IndexByte(p, '\\') >= 0 {
		p = strings.ReplaceAll(p, "\\", "/")
	}
	// With a '/' before and after, a dot segment is "/./" or "/../".
	p = "/" + p + "/"
	return strings.Contains(p, "/./") || strings.Contains(p, "/../")
}

// mayHoldQueryKey reports whether a raw query may hold the query key,
// named as such or percent-encoded: most queries are an app's own, and
// ServeHTTP then reads no credentials.
func mayHoldQueryKey(raw string) bool {
	return strings.Contains(raw, QueryAuthKey) || strings.IndexByte(raw, '%') >= 0
}

// takeQueryKey finds the DAYTONA_SANDBOX_AUTH_KEY parameter in a raw query
// and removes every copy of it textually, so that the other parameters keep
// their order and encoding (Daytona re-encodes and sorts the whole query).
// The first copy's value is the token. Parameter names are compared decoded,
// as Daytona's gin does.
func takeQueryKey(raw string) (string, string, bool) {
	if !mayHoldQueryKey(raw) {
		return "", raw, false
	}
	token, found := "", false
	parts := strings.Split(raw, "&")
	kept := parts[:0]
	for _, p := range parts {
		k, v := p, ""
		if i := strings.IndexByte(p, '='); i >= 0 {
			k, v = p[:i], p[i+1:]
		}
		if strings.IndexByte(k, '%') >= 0 || strings.IndexByte(k, '+') >= 0 {
			if uk, err := url.QueryUnescape(k); err == nil {
				k = uk
			}
		}
		if k != QueryAuthKey {
			kept = append(kept, p)
			continue
		}
		if !found {
			found = true
			token = v
			if uv, err := url.QueryUnescape(v); err == nil {
				token = uv
			}
		}
	}
	if !found {
		return "", raw, false
	}
	return token, strings.Join(kept, "&"), true
}

// Cookies the gateway owns; none of them ever reaches a sandbox.
const (
	cookiePKCE          = "pkce_verifier"
	cookiePreviewAccept = "daytona-preview-page-accepted"
)

func ourCookie(name string) bool {
	return strings.HasPrefix(name, CookieAuthPrefix) || name == cookiePKCE || name == cookiePreviewAccept
}

// takeCookies returns the value of cookie daytona-sandbox-auth-<id> and
// removes every cookie of ours from the request's Cookie headers: with a
// shared cookie domain the browser sends other sandboxes' cookies too, and
// a sandbox must never see them.
func takeCookies(hdr http.Header, id string) string {
	vals := hdr[hCookie]
	ours := false
	for _, v := range vals {
		if strings.Contains(v, "daytona-") || strings.Contains(v, cookiePKCE) {
			ours = true
			break
		}
	}
	if !ours {
		return ""
	}
	name := CookieAuthPrefix + id
	found := ""
	var kept []string
	for _, v := range vals {
		var out []string
		for _, part := range strings.Split(v, ";") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			n, val := part, ""
			if i := strings.IndexByte(part, '='); i >= 0 {
				n, val = strings.TrimSpace(part[:i]), strings.TrimSpace(part[i+1:])
			}
			if !ourCookie(n) {
				out = append(out, part)
				continue
			}
			if n == name && found == "" && id != "" {
				if len(val) > 1 && val[0] == '"' && val[len(val)-1] == '"' {
					val = val[1 : len(val)-1]
				}
				found = val
			}
		}
		if len(out) != 0 {
			kept = append(kept, strings.Join(out, "; "))
		}
	}
	if len(kept) == 0 {
		delete(hdr, hCookie)
	} else {
		hdr[hCookie] = kept
	}
	return found
}

// ErrorBody is Daytona's JSON error body. The resolver uses it too.
type ErrorBody struct {
	StatusCode int    `json:"statusCode"`
	Message    string `json:"message"`
	Code       string `json:"code"`
	Timestamp  string `json:"timestamp"`
	Path       string `json:"path"`
	Method     string `json:"method"`
}

// ErrorCode is Daytona's code for an HTTP status.
func ErrorCode(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "BAD_REQUEST"
	case http.StatusUnauthorized:
		return "UNAUTHORIZED"
	case http.StatusForbidden:
		return "FORBIDDEN"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusConflict:
		return "CONFLICT"
	case http.StatusRequestTimeout:
		return "REQUEST_TIMEOUT"
	case http.StatusGone:
		return "GONE"
	case http.StatusUnprocessableEntity:
		return "UNPROCESSABLE_ENTITY"
	case http.StatusBadGateway:
		return "BAD_GATEWAY"
	case http.StatusServiceUnavailable:
		return "SERVICE_UNAVAILABLE"
	case http.StatusGatewayTimeout:
		return "GATEWAY_TIMEOUT"
	}
	return "INTERNAL_SERVER_ERROR"
}

// NewErrorBody fills an ErrorBody for one request.
func NewErrorBody(status int, message, path, method string) ErrorBody {
	return ErrorBody{
		StatusCode: status,
		Message:    message,
		Code:       ErrorCode(status),
		Timestamp:  time.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		Path:       path,
		Method:     method,
	}
}

// writeError answers with Daytona's JSON error body. Only the error paths
// use encoding/json.
func writeError(rw http.ResponseWriter, req *http.Request, status int, message string) {
	body, err := json.Marshal(NewErrorBody(status, message, req.URL.Path, req.Method))
	if err != nil {
		body = []byte(`{"statusCode":500,"message":"internal server error","code":"INTERNAL_SERVER_ERROR"}`)
	}
	h := rw.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	rw.WriteHeader(status)
	rw.Write(body)
}

var healthBody = []byte(`{"status":"ok","version":"` + Version + `"}`)

// writeCacheHealth adds the decision cache's size and bound to the health
// answer, for callers that hold the resolver secret (operators, the bench).
func writeCacheHealth(rw http.ResponseWriter, entries int, limit int64) {
	h := rw.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	rw.WriteHeader(http.StatusOK)
	rw.Write([]byte(`{"status":"ok","version":"` + Version + `","cache":{"entries":` +
		strconv.Itoa(entries) + `,"limit":` + strconv.FormatInt(limit, 10) + `}}`))
}

func writeHealth(rw http.ResponseWriter) {
	h := rw.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	rw.WriteHeader(http.StatusOK)
	rw.Write(healthBody)
}

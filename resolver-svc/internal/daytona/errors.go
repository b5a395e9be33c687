package daytona

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"
)

// Sentinel errors. Callers match them with errors.Is; the errors returned
// wrap them with %w and add detail for logs. No error text ever contains a
// token, a key or a URL path that holds one.
var (
	// ErrNotFound: the API definitely answered "no" (a 4xx other than 401,
	// 408 and 429): unknown sandbox, no runner, invalid or expired signed token.
	ErrNotFound = errors.New("daytona: not found")
	// ErrUnauthorized: the API rejected the proxy's own key (401 on a call
	// made with PROXY_API_KEY). A deployment problem, never cached.
	ErrUnauthorized = errors.New("daytona: the API rejected PROXY_API_KEY")
	// ErrUnavailable: the API could not give an answer: 5xx, 408, 429 or a
	// network error after every attempt, a cancelled context, or a malformed
	// answer. Never cached as a negative result.
	ErrUnavailable = errors.New("daytona: API unavailable")
	// ErrTimeout is wrapped together with ErrUnavailable when the last
	// attempt, or the caller's context, timed out.
	ErrTimeout = errors.New("daytona: API timeout")
	// ErrBadResponse is wrapped together with ErrUnavailable when a 2xx
	// answer could not be used (malformed JSON, missing fields).
	ErrBadResponse = errors.New("daytona: malformed API response")
)

// APIError is an HTTP answer of the API other than the expected success.
// Its text holds the endpoint name, the status and the API's message
// (redacted of the call's secrets), never the request path.
type APIError struct {
	// Endpoint is the logical endpoint name, such as "runner_by_sandbox".
	Endpoint string
	// StatusCode is the HTTP status of the answer.
	StatusCode int
	// Message is the API's "message" field (or "error"), sanitised.
	Message string

	kind error // the sentinel this status maps to
}

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("daytona: ")
	b.WriteString(e.Endpoint)
	b.WriteString(": ")
	fmt.Fprintf(&b, "%d %s", e.StatusCode, http.StatusText(e.StatusCode))
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

// Unwrap returns the sentinel the status maps to (nil for retryable ones).
func (e *APIError) Unwrap() error { return e.kind }

// retryable reports whether a status is worth another attempt.
func retryable(status int) bool {
	return status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500
}

// apiErrorBody is the API's error JSON (NestJS all-exceptions filter):
// {"path":…,"timestamp":…,"statusCode":…,"error":…,"message":…}. The path is
// deliberately not read: it may hold a token.
type apiErrorBody struct {
	StatusCode int             `json:"statusCode"`
	Error      string          `json:"error"`
	Message    json.RawMessage `json:"message"`
}

// isAPIErrorBody reports whether body is the API's error JSON: an object
// with the status code and an RFC 3339 timestamp, as the NestJS filter
// writes it (what Daytona's generated client needs to decode an error).
func isAPIErrorBody(body []byte) bool {
	var e struct {
		StatusCode int    `json:"statusCode"`
		Timestamp  string `json:"timestamp"`
	}
	if json.Unmarshal(body, &e) != nil || e.StatusCode == 0 {
		return false
	}
	_, err := time.Parse(time.RFC3339, e.Timestamp)
	return err == nil
}

const maxMessage = 200

// parseAPIMessage extracts a safe, short message from an error body: the
// "message" (a string, or NestJS's array of validation strings), else the
// "error" field. Anything that is not the API's JSON gives "". Every
// secret is replaced by "[redacted]" and control characters are dropped.
func parseAPIMessage(body []byte, secrets []string) string {
	var e apiErrorBody
	if len(body) == 0 || json.Unmarshal(body, &e) != nil {
		return ""
	}
	msg := ""
	var s string
	var list []string
	switch {
	case json.Unmarshal(e.Message, &s) == nil:
		msg = s
	case json.Unmarshal(e.Message, &list) == nil:
		msg = strings.Join(list, ", ")
	}
	if msg == "" {
		msg = e.Error
	}
	return sanitize(msg, secrets)
}

func sanitize(msg string, secrets []string) string {
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	msg = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return -1
		}
		return r
	}, msg)
	if len(msg) > maxMessage {
		// Cut on a rune boundary.
		cut := maxMessage
		for cut > 0 && !isRuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "…"
	}
	return msg
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

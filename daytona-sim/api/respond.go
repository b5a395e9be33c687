package api

import (
	"encoding/json"
	"net/http"
	"time"
)

// APIError is the body of every error the Daytona API answers (NestJS
// AllExceptionsFilter): the field order is the API's.
type APIError struct {
	Path       string `json:"path"`
	Timestamp  string `json:"timestamp"`
	StatusCode int    `json:"statusCode"`
	Error      string `json:"error"`
	Message    string `json:"message"`
}

// Messages of the API that tests may want to compare with.
const (
	MsgInvalidCredentials = "Invalid credentials"
	MsgInvalidAuthContext = "Invalid authentication context"
	MsgInvalidSignedToken = "Invalid or expired token"
	MsgRunnerNotFound     = "Runner not found"
	MsgUnexpected         = "An unexpected error occurred."
	MsgInvalidPort        = "Invalid port"
	MsgInvalidExpiry      = "expiresInSeconds must be between 1 second and 24 hours"
)

const (
	contentJSON = "application/json; charset=utf-8" // Express res.json
	contentHTML = "text/html; charset=utf-8"        // Express res.send(string)
)

// isoTime formats t like JavaScript's Date.toISOString().
func isoTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// requestURL is Express's request.url: the request target as received.
func requestURL(r *http.Request) string {
	if r.RequestURI != "" {
		return r.RequestURI
	}
	return r.URL.RequestURI()
}

func writeError(w http.ResponseWriter, r *http.Request, status int, message string) {
	writeJSON(w, status, APIError{
		Path:       requestURL(r),
		Timestamp:  isoTime(time.Now()),
		StatusCode: status,
		Error:      http.StatusText(status),
		Message:    message,
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentJSON)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeText answers like Express res.send(string): text/html.
func writeText(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", contentHTML)
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// writeEmpty answers like a NestJS handler returning void.
func writeEmpty(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(status)
}

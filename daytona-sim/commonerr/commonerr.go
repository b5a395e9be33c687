// Package commonerr writes the JSON error body of Daytona's Go services
// (runner, daemon, proxy: libs/common-go/pkg/errors).
package commonerr

import (
	"encoding/json"
	"net/http"
	"time"
)

// Body is the error body; the field order is Daytona's.
type Body struct {
	StatusCode int       `json:"statusCode"`
	Message    string    `json:"message"`
	Code       string    `json:"code,omitempty"`
	Timestamp  time.Time `json:"timestamp"`
	Path       string    `json:"path"`
	Method     string    `json:"method,omitempty"`
}

// Codes by status, as the error middleware sets them.
var codes = map[int]string{
	http.StatusBadRequest:          "BAD_REQUEST",
	http.StatusUnauthorized:        "UNAUTHORIZED",
	http.StatusForbidden:           "FORBIDDEN",
	http.StatusNotFound:            "NOT_FOUND",
	http.StatusRequestTimeout:      "REQUEST_TIMEOUT",
	http.StatusConflict:            "CONFLICT",
	http.StatusGone:                "GONE",
	http.StatusUnprocessableEntity: "UNPROCESSABLE_ENTITY",
	http.StatusInternalServerError: "INTERNAL_SERVER_ERROR",
}

// Write answers status with the body. message is the full message, with
// Daytona's prefix ("unauthorized: …", "not found: …", "bad request: …").
// Path is the decoded request path, like gin's ctx.Request.URL.Path.
func Write(w http.ResponseWriter, r *http.Request, status int, message string) {
	body, _ := json.Marshal(Body{
		StatusCode: status,
		Message:    message,
		Code:       codes[status],
		Timestamp:  time.Now().UTC(),
		Path:       r.URL.Path,
		Method:     r.Method,
	})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

package server

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

// requestInfo collects what the handler learned, for the one log line per
// request. It never holds a token, key, cookie or secret.
type requestInfo struct {
	id      string
	route   string
	outcome string
	sandbox string
	runner  string
	err     error
}

type infoKey struct{}

func infoFrom(r *http.Request) *requestInfo {
	info, _ := r.Context().Value(infoKey{}).(*requestInfo)
	if info == nil {
		return &requestInfo{} // not wrapped: write to a throw-away
	}
	return info
}

// statusWriter remembers the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// wrap adds the request id, panic recovery, the duration metric and the
// log line. Decisions log at Info (Warn for 5xx); the other handlers,
// polled often, at Debug.
func (s *Server) wrap(handler string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := &requestInfo{id: s.ridPrefix + "-" + strconv.FormatUint(s.ridCounter.Add(1), 36)}
		r = r.WithContext(context.WithValue(r.Context(), infoKey{}, info))
		sw := &statusWriter{ResponseWriter: w}
		sw.Header().Set("X-Request-Id", info.id)

		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("panic", "request_id", info.id, "handler", handler, "panic", p)
				if sw.status == 0 {
					// No decision header: the plugin fails closed.
					writeError(sw, r, http.StatusInternalServerError, "internal server error", r.URL.Path, r.Method)
				}
				info.outcome = "panic"
			}
			d := time.Since(start)
			s.deps.Metrics.Request(handler, d)
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			level := slog.LevelDebug
			if handler == "decide" {
				level = slog.LevelInfo
				if status >= 500 {
					level = slog.LevelWarn
				}
			}
			if info.outcome == "refused" || info.outcome == "panic" {
				level = slog.LevelWarn
			}
			if !s.log.Enabled(r.Context(), level) {
				return
			}
			attrs := []slog.Attr{
				slog.String("request_id", info.id),
				slog.String("handler", handler),
				slog.Int("status", status),
				slog.Float64("duration_ms", float64(d.Microseconds())/1000),
			}
			if info.route != "" {
				attrs = append(attrs, slog.String("route", info.route))
			}
			if info.outcome != "" {
				attrs = append(attrs, slog.String("outcome", info.outcome))
			}
			if info.sandbox != "" {
				attrs = append(attrs, slog.String("sandbox", info.sandbox))
			}
			if info.runner != "" {
				attrs = append(attrs, slog.String("runner", info.runner))
			}
			if info.err != nil {
				attrs = append(attrs, slog.String("err", info.err.Error()))
			}
			s.log.LogAttrs(r.Context(), level, "request", attrs...)
		}()
		next.ServeHTTP(sw, r)
	})
}

package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/previewgate/previewgate/plugin"
	"github.com/previewgate/previewgate/resolver-svc/internal/decide"
)

// ErrDecideSocket is returned when the decision socket cannot be opened.
var ErrDecideSocket = errors.New("server: decision socket")

// listenDatagrams opens the decision socket: an abstract name ("@...") or a
// path, where a stale socket file is replaced.
func listenDatagrams(name string) (*net.UnixConn, error) {
	if !strings.HasPrefix(name, "@") {
		if fi, err := os.Lstat(name); err == nil && fi.Mode()&os.ModeSocket != 0 {
			os.Remove(name)
		}
	}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrDecideSocket, name, err)
	}
	return c, nil
}

// serveDatagrams answers decision datagrams (plugin/contract.go, "Datagram
// decisions") until conn is closed; each is decided in a goroutine of its
// own, as an HTTP request would be.
func (s *Server) serveDatagrams(ctx context.Context, conn *net.UnixConn) {
	buf := make([]byte, plugin.MaxDatagram+1) // a longer datagram shows as truncated
	for {
		n, from, err := conn.ReadFromUnix(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("decision socket", "err", err.Error())
			continue
		}
		if from == nil || from.Name == "" {
			continue // an unbound sender cannot be answered
		}
		msg := string(buf[:n])
		if n > plugin.MaxDatagram {
			msg = "" // truncated: answered DatagramAskHTTP
		}
		go func() {
			start := time.Now()
			answer := s.datagramAnswer(ctx, msg)
			if _, err := conn.WriteToUnix([]byte(answer), from); err != nil {
				s.log.Debug("decision socket: answer not delivered", "err", err.Error())
			}
			s.deps.Metrics.Request("decide_datagram", time.Since(start))
		}()
	}
}

// datagramAnswer decides one datagram request. Only a forward decision is
// answered in full; everything else (a wrong secret, a malformed request,
// any other decision) is DatagramAskHTTP, and the plugin's HTTP request
// gets the whole answer (and is the one that counts and logs it).
func (s *Server) datagramAnswer(ctx context.Context, msg string) string {
	f := strings.Split(msg, "\n")
	if len(f) != 9 {
		return plugin.DatagramAskHTTP
	}
	if !s.isSecret(f[0]) {
		return plugin.DatagramAskHTTP
	}
	route, sandbox, port, ok := plugin.DecideTarget(f[1])
	if !ok || route != plugin.RoutePreview && route != plugin.RouteToolbox { // the gateway and build-log routes: HTTP only
		return plugin.DatagramAskHTTP
	}
	dec := s.deps.Decider.Decide(ctx, decide.Request{
		Route: route, Sandbox: sandbox, Port: port,
		Bearer: f[3], ClientIP: f[4], PreviewToken: f[5], QueryToken: f[6], Cookie: f[7],
		SkipActivity: f[8] == "true",
	})
	fw := dec.Forward
	if fw == nil {
		return plugin.DatagramAskHTTP
	}
	s.deps.Metrics.Decision(route, dec.Outcome)
	if s.log.Enabled(ctx, slog.LevelInfo) {
		method, host, _ := plugin.SplitRequest(f[2])
		s.log.LogAttrs(ctx, slog.LevelInfo, "request", slog.String("handler", "decide_datagram"),
			slog.String("method", method), slog.String("host", host), slog.String("route", route),
			slog.String("outcome", string(dec.Outcome)), slog.String("sandbox", dec.Sandbox), slog.String("runner", fw.Runner))
	}
	strip := ""
	if fw.StripAuthorization {
		strip = "1"
	}
	return plugin.DecisionForward + "\n" + fw.Runner + "\n" + fw.RunnerAuth + "\n" + fw.Prefix + "\n" + strip + "\n" +
		strconv.Itoa(int(fw.TTL/time.Second))
}

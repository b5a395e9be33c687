package server

import (
	"context"
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/previewgate/previewgate/plugin"
	"github.com/previewgate/previewgate/resolver-svc/internal/decide"
)

func TestDatagramAnswer(t *testing.T) {
	fw := decide.Decision{Outcome: decide.OutcomeBearer, Sandbox: "demo", Forward: &decide.Forward{
		Runner: "r1", RunnerAuth: "Bearer k1", Prefix: "/sandboxes/demo/toolbox/proxy/3000", StripAuthorization: true, TTL: 10 * time.Second}}
	line := func(parts ...string) string { return strings.Join(parts, "\n") }
	good := line(secret, plugin.DecidePath+"/preview/demo/3000", "GET 3000-demo.example /x?y=1", "utok", "192.0.2.1", "ptok", "qtok", "cval", "true")
	tests := []struct {
		name string
		dec  decide.Decision
		msg  string
		want string
	}{
		{"forward", fw, good, "forward\nr1\nBearer k1\n/sandboxes/demo/toolbox/proxy/3000\n1\n10"},
		{"not a forward", decide.Decision{Status: 401, Message: "no"}, good, plugin.DatagramAskHTTP},
		{"wrong secret", fw, strings.Replace(good, secret, "wrong-secret-0123456789abcdef", 1), plugin.DatagramAskHTTP},
		{"too few lines", fw, line(secret, plugin.DecidePath+"/preview/demo/3000"), plugin.DatagramAskHTTP},
		{"bad target", fw, strings.Replace(good, "/preview/demo/3000", "/preview/demo/0", 1), plugin.DatagramAskHTTP},
		{"gateway route", fw, strings.Replace(good, "/preview/demo/3000", "/gateway", 1), plugin.DatagramAskHTTP},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := &fakeDecider{dec: tc.dec}
			s := newServer(t, d, nil)
			if got := s.datagramAnswer(context.Background(), tc.msg); got != tc.want {
				t.Errorf("answer %q, want %q", got, tc.want)
			}
		})
	}
	d := &fakeDecider{dec: fw}
	newServer(t, d, nil).datagramAnswer(context.Background(), good)
	want := decide.Request{Route: plugin.RoutePreview, Sandbox: "demo", Port: "3000", Bearer: "utok", ClientIP: "192.0.2.1",
		PreviewToken: "ptok", QueryToken: "qtok", Cookie: "cval", SkipActivity: true}
	if d.got != want {
		t.Errorf("decided %+v, want %+v", d.got, want)
	}
}

// The socket answers a bound client; Run closes it on shutdown.
func TestDecideSocket(t *testing.T) {
	name := "@previewgate-server-test-" + strconv.Itoa(os.Getpid())
	d := &fakeDecider{dec: decide.Decision{Forward: &decide.Forward{Runner: "r1", RunnerAuth: "Bearer k", Prefix: "/sandboxes/a/toolbox/proxy/1", TTL: time.Second}}}
	s, err := New(Config{Secret: secret, InternalAddr: "127.0.0.1:0", PublicAddr: "127.0.0.1:0", DecideSocket: name, ShutdownTimeout: time.Second},
		Deps{Decider: d, Metrics: nopMetrics{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, func(_, _, _ net.Addr) { close(ready) }) }()
	<-ready

	c, err := net.DialUnix("unixgram", &net.UnixAddr{Name: name + "-client", Net: "unixgram"}, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	msg := strings.Join([]string{secret, plugin.DecidePath + "/preview/a/1", "GET 1-a.x /", "", "", "", "", "", ""}, "\n")
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1024)
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "forward\nr1\nBearer k\n/sandboxes/a/toolbox/proxy/1\n\n1" {
		t.Fatalf("answer %q, %v", buf[:n], err)
	}
	// A datagram longer than MaxDatagram is never decided on in part.
	long := msg + strings.Repeat("x", plugin.MaxDatagram)
	if _, err := c.Write([]byte(long)); err != nil {
		t.Fatal(err)
	}
	if n, err = c.Read(buf); err != nil || string(buf[:n]) != plugin.DatagramAskHTTP {
		t.Fatalf("answer to a long datagram %q, %v", buf[:n], err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := listenDatagrams(name); err != nil {
		t.Errorf("the socket is still taken after shutdown: %v", err)
	}
}

func TestDecideSocketTaken(t *testing.T) {
	name := "@previewgate-server-taken-" + strconv.Itoa(os.Getpid())
	c, err := listenDatagrams(name)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := listenDatagrams(name); !errors.Is(err, ErrDecideSocket) {
		t.Errorf("second listen: %v, want ErrDecideSocket", err)
	}
}

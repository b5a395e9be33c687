package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/previewgate/previewgate/daytona-sim/daemon"
	"github.com/previewgate/previewgate/daytona-sim/world"
)

// ErrClosed is returned once the Docker stand-in is closed.
var ErrClosed = errors.New("docker closed")

// Docker stands in for the runners' Docker engine: every started sandbox
// gets a "container", a loopback listener serving the sandbox's daemon,
// created on first use. A container is killed (listener closed, open
// requests, WebSockets and streams cancelled) as soon as its sandbox stops,
// moves to another runner, is archived or deleted. One Docker is shared by
// every runner of a simulator.
type Docker struct {
	world *world.World
	log   *slog.Logger

	mu         sync.Mutex
	closed     bool
	containers map[string]*container // by sandbox id
}

type container struct {
	runnerID string
	addr     string
	srv      *http.Server
	ln       net.Listener // closed by kill too: Serve may not track it yet
	cancel   context.CancelFunc
}

// NewDocker returns a Docker that follows the world's sandbox changes.
func NewDocker(w *world.World, log *slog.Logger) *Docker {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Docker{world: w, log: log.With("component", "docker"), containers: map[string]*container{}}
	w.Subscribe(d.sync)
	return d
}

// sync kills the sandbox's container if it should no longer run.
func (d *Docker) sync(sandboxID string) {
	d.mu.Lock()
	c, ok := d.containers[sandboxID]
	d.mu.Unlock()
	if !ok {
		return
	}
	sb, exists := d.world.Sandbox(sandboxID)
	if exists && sb.State == world.StateStarted && sb.RunnerID == c.runnerID {
		return
	}
	d.kill(sandboxID, c)
}

func (d *Docker) kill(sandboxID string, c *container) {
	d.mu.Lock()
	if d.containers[sandboxID] == c {
		delete(d.containers, sandboxID)
	}
	d.mu.Unlock()
	c.cancel()
	_ = c.srv.Close()
	_ = c.ln.Close()
	d.log.Debug("container stopped", "sandbox", sandboxID)
}

// Addr returns the address of the sandbox's container on that runner,
// starting the container if needed. The caller has checked that the sandbox
// is started on that runner.
func (d *Docker) Addr(sandboxID, runnerID string) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return "", ErrClosed
	}
	if c, ok := d.containers[sandboxID]; ok {
		if c.runnerID == runnerID {
			return c.addr, nil
		}
		go d.kill(sandboxID, c)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("start container %s: %w", sandboxID, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &container{runnerID: runnerID, addr: ln.Addr().String(), ln: ln, cancel: cancel}
	c.srv = &http.Server{
		Handler:           daemon.New(sandboxID, d.runnerOf(sandboxID)),
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelDebug),
	}
	d.containers[sandboxID] = c
	go func() { _ = c.srv.Serve(ln) }()
	d.log.Debug("container started", "sandbox", sandboxID, "addr", c.addr)
	return c.addr, nil
}

// runnerOf tells a daemon which runner its sandbox is on now.
func (d *Docker) runnerOf(sandboxID string) daemon.RunnerFunc {
	return func() (string, string) {
		sb, ok := d.world.Sandbox(sandboxID)
		if !ok {
			return "", ""
		}
		rn, _ := d.world.Runner(sb.RunnerID)
		return rn.ID, rn.Name
	}
}

// Running returns the number of running containers.
func (d *Docker) Running() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.containers)
}

// Close kills every container.
func (d *Docker) Close() {
	d.mu.Lock()
	d.closed = true
	all := d.containers
	d.containers = map[string]*container{}
	d.mu.Unlock()
	for _, c := range all {
		c.cancel()
		_ = c.srv.Close()
		_ = c.ln.Close()
	}
}

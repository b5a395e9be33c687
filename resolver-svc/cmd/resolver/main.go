// Command resolver is previewgate's resolver: it answers the plugin's
// decision requests (who may reach which sandbox port, through which
// runner), serves Traefik the per-runner routers, and exposes health and
// Prometheus metrics. It is configured by environment variables only;
// `resolver -help` lists them with their defaults.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/previewgate/previewgate/plugin"
	"github.com/previewgate/previewgate/resolver-svc/internal/authcookie"
	"github.com/previewgate/previewgate/resolver-svc/internal/cache"
	"github.com/previewgate/previewgate/resolver-svc/internal/config"
	"github.com/previewgate/previewgate/resolver-svc/internal/daytona"
	"github.com/previewgate/previewgate/resolver-svc/internal/decide"
	"github.com/previewgate/previewgate/resolver-svc/internal/metrics"
	"github.com/previewgate/previewgate/resolver-svc/internal/runners"
	"github.com/previewgate/previewgate/resolver-svc/internal/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "resolver:", err)
		os.Exit(2)
	}
}

// run loads the configuration, wires the packages and serves until ctx is
// done.
func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "-h", "-help", "--help", "help":
			fmt.Fprintln(stdout, "resolver: previewgate's resolver, configured by these environment variables:")
			config.Describe(stdout)
			return nil
		case "-version", "--version", "version":
			fmt.Fprintln(stdout, plugin.Version)
			return nil
		}
		return fmt.Errorf("unexpected arguments %q (the resolver is configured by environment variables; see -help)", args)
	}
	cfg, err := config.Load(environ, os.ReadFile)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	cache.SetRedisLogger(logger)
	for _, ig := range cfg.Ignored {
		logger.Warn("ignored variable of Daytona's proxy", "variable", ig)
	}

	var (
		decisionCache decide.Cache
		registry      *runners.Registry
		runnerCount   func() int
	)
	if cfg.Redis != nil {
		r, err := cache.NewRedis(*cfg.Redis)
		if err != nil {
			return err
		}
		defer r.Close()
		// Fail closed but start anyway: a cache failure makes decisions
		// fail, it does not stop the process (Redis may come up later).
		if err := r.Ping(ctx); err != nil {
			logger.Warn("redis is not reachable yet", "addr", cfg.Redis.Addr, "err", err.Error())
		}
		decisionCache = r
	} else {
		decisionCache = cache.NewMemory(cfg.MemoryEntries)
	}
	if cfg.Routing == config.RoutingRunners {
		registry, err = runners.New(cfg.Runners)
		if err != nil {
			return err
		}
		runnerCount = registry.Len
	}

	m := metrics.New(prometheus.NewRegistry(), runnerCount)
	dcfg := cfg.Daytona
	dcfg.Observe = m.APICall
	api, err := daytona.New(dcfg)
	if err != nil {
		return err
	}
	cookies, err := authcookie.New(cfg.CookieKey)
	if err != nil {
		return err
	}
	deps := decide.Deps{API: api, Cache: decisionCache, Cookies: cookies, Observer: m, Logger: logger}
	sdeps := server.Deps{Metrics: m, Logger: logger}
	if registry != nil { // a nil *Registry must not become a non-nil interface
		deps.Runners = registry
		sdeps.Traefik = registry
	}
	decider, err := decide.New(cfg.Decide, deps)
	if err != nil {
		return err
	}
	defer decider.Close()
	sdeps.Decider = decider

	scfg := cfg.Server
	scfg.Version = plugin.Version
	srv, err := server.New(scfg, sdeps)
	if err != nil {
		return err
	}
	logger.Info("starting", append([]any{"version", plugin.Version}, cfg.Summary()...)...)
	err = srv.Run(ctx, func(internal, public, _ net.Addr) {
		logger.Info("ready", "internal", internal.String(), "public", public.String())
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

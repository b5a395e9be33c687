// Command daytona-sim runs the Daytona simulator: a test double of the
// Daytona API and of Daytona runners for previewgate's demo stack and
// end-to-end tests. It is not Daytona.
//
// Every flag has an environment fallback (DAYTONA_SIM_<FLAG>, upper case,
// dashes as underscores; DAYTONA_SIM_RUNNERS holds space-separated -runner
// values). With -state-file, once every listener is up the simulator writes
// {"apiUrl": …, "runners": {"<id>": {"name", "url", "apiKey"}}} there.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/previewgate/previewgate/daytona-sim/sim"
	"github.com/previewgate/previewgate/daytona-sim/world"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "daytona-sim:", err)
		}
		os.Exit(2)
	}
}

const envPrefix = "DAYTONA_SIM_"

// runnerFlags collects repeated -runner values.
type runnerFlags struct {
	specs []string
	set   bool
}

func (r *runnerFlags) String() string { return strings.Join(r.specs, " ") }

func (r *runnerFlags) Set(v string) error {
	if !r.set { // the first -runner replaces the defaults
		r.specs, r.set = nil, true
	}
	r.specs = append(r.specs, v)
	return nil
}

// options are the parsed flags, before validation.
type options struct {
	apiAddr, proxyKey, seed, template, toolboxURL string
	issuer, clientID, audience, stateFile         string
	logLevel                                      string
	stoppedDelay                                  time.Duration
	runners                                       runnerFlags
}

func parseFlags(args []string, getenv func(string) string, out io.Writer) (options, []error) {
	var o options
	var problems []error
	env := func(name, def string) string {
		if v := getenv(envPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))); v != "" {
			return v
		}
		return def
	}
	fs := flag.NewFlagSet("daytona-sim", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&o.apiAddr, "api-addr", env("api-addr", sim.DefaultAPIAddr), "API listen address (the API is served under /api, control endpoints under /_sim)")
	fs.StringVar(&o.proxyKey, "proxy-api-key", env("proxy-api-key", sim.DefaultProxyAPIKey), "PROXY_API_KEY the proxy-role endpoints require")
	fs.StringVar(&o.seed, "seed", env("seed", "default"), `initial world: "default" (demo sandboxes), "none" or a JSON seed file`)
	fs.StringVar(&o.template, "proxy-template-url", env("proxy-template-url", sim.DefaultProxyTemplateURL), "preview URL template ({{PORT}}, {{sandboxId}})")
	fs.StringVar(&o.toolboxURL, "proxy-toolbox-url", env("proxy-toolbox-url", ""), "toolbox proxy URL in /api/config (default: derived from the template)")
	fs.StringVar(&o.issuer, "oidc-issuer", env("oidc-issuer", sim.DefaultOIDCIssuer), "oidc.issuer in /api/config")
	fs.StringVar(&o.clientID, "oidc-client-id", env("oidc-client-id", sim.DefaultOIDCClientID), "oidc.clientId in /api/config")
	fs.StringVar(&o.audience, "oidc-audience", env("oidc-audience", sim.DefaultOIDCAudience), "oidc.audience in /api/config")
	fs.StringVar(&o.stateFile, "state-file", env("state-file", ""), "write the listeners' URLs and runner keys here (JSON) once they are up")
	fs.StringVar(&o.logLevel, "log-level", env("log-level", "info"), "debug, info, warn or error")
	delay := env("stopped-delay", sim.DefaultConfig().StoppedDelay.String())
	fs.Func("stopped-delay", "time a runner takes to answer 400 for a stopped sandbox (default "+delay+")", func(v string) error {
		delay = v
		return nil
	})
	o.runners.specs = strings.Fields(env("runners", "r1=127.0.0.1:0 r2=127.0.0.1:0"))
	fs.Var(&o.runners, "runner", "a runner, repeatable: name=addr[,id=UUID][,key=KEY][,url=URL] (default r1 and r2 on free ports)")
	if err := fs.Parse(args); err != nil {
		return o, []error{err}
	}
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Errorf("unexpected arguments: %q", fs.Args()))
	}
	d, err := time.ParseDuration(delay)
	if err != nil {
		problems = append(problems, fmt.Errorf("stopped-delay: %w", err))
	}
	o.stoppedDelay = d
	return o, problems
}

// config turns the options into a simulator config, reporting every problem.
func (o options) config(logger *slog.Logger) (sim.Config, []error) {
	var problems []error
	cfg := sim.Config{
		APIAddr: o.apiAddr, ProxyAPIKey: o.proxyKey, ProxyTemplateURL: o.template, ProxyToolboxURL: o.toolboxURL,
		StoppedDelay: o.stoppedDelay, Logger: logger,
	}
	cfg.OIDC.Issuer, cfg.OIDC.ClientID, cfg.OIDC.Audience = o.issuer, o.clientID, o.audience
	for _, s := range o.runners.specs {
		spec, err := sim.ParseRunnerSpec(s)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		cfg.Runners = append(cfg.Runners, spec)
	}
	switch o.seed {
	case "default":
		cfg.Seed = world.DefaultSeed()
	case "none", "":
	default:
		seed, err := world.LoadSeed(o.seed)
		if err != nil {
			problems = append(problems, err)
		}
		cfg.Seed = seed
	}
	if err := cfg.Validate(); err != nil {
		problems = append(problems, err)
	}
	return cfg, problems
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	err := l.UnmarshalText([]byte(s))
	return l, err
}

// run parses the configuration, starts the simulator, writes the state file
// and serves until ctx is done.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	o, problems := parseFlags(args, getenv, stderr)
	if len(problems) == 1 && errors.Is(problems[0], flag.ErrHelp) {
		return flag.ErrHelp
	}
	level, err := parseLevel(o.logLevel)
	if err != nil {
		problems = append(problems, fmt.Errorf("log-level: %w", err))
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	cfg, more := o.config(logger)
	if problems = append(problems, more...); len(problems) > 0 {
		return fmt.Errorf("invalid configuration:\n%w", errors.Join(problems...))
	}
	s, err := sim.Start(cfg)
	if err != nil {
		return err
	}
	if o.stateFile != "" {
		if err := sim.WriteStateFile(o.stateFile, s.State()); err != nil {
			_ = s.Shutdown(context.Background())
			return err
		}
		logger.Info("state file written", "path", o.stateFile)
	}
	<-ctx.Done()
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.Shutdown(shutdownCtx)
}

package stack

import (
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/previewgate/previewgate/daytona-sim/sim"
	"github.com/previewgate/previewgate/internal/compose"
	"github.com/previewgate/previewgate/internal/helm"
)

// There is no Docker engine here: docker-compose.yml is kept true by
// checking it against traefik/*.yml, the dev stack's addresses and the
// pinned Traefik version. (The resolver and the simulator check that the
// environment it gives them loads: see their cmd packages.)
func TestComposeMatchesTheTraefikConfigurationAndTheDevStack(t *testing.T) {
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	c, err := compose.Load(root)
	if err != nil {
		t.Fatal(err)
	}
	static, err := loadYAML(filepath.Join(root, "traefik", "traefik.yml"))
	if err != nil {
		t.Fatal(err)
	}
	dynamic, err := loadYAML(filepath.Join(root, "traefik", "dynamic.yml"))
	if err != nil {
		t.Fatal(err)
	}
	str := func(m map[string]interface{}, path string) string {
		t.Helper()
		v, err := getPath(m, path)
		if err != nil {
			t.Fatal(err)
		}
		s, ok := v.(string)
		if !ok {
			t.Fatalf("%s is %T, want a string", path, v)
		}
		return s
	}
	tr, rs, sm := c.Services["traefik"], c.Services["resolver"], c.Services["daytona-sim"]
	if len(c.Services) != 3 || tr.Image == "" || rs.Build == nil || sm.Build == nil {
		t.Fatalf("want services traefik (image), resolver and daytona-sim (built), got %+v", c.Services)
	}

	t.Run("traefik image is the pinned version", func(t *testing.T) {
		if want := "traefik:" + pinnedTraefik(t, root); tr.Image != want {
			t.Errorf("image %s, want %s (the version the tests run)", tr.Image, want)
		}
	})

	t.Run("shared network namespace", func(t *testing.T) {
		for name, s := range map[string]compose.Service{"resolver": rs, "daytona-sim": sm} {
			if s.NetworkMode != "service:traefik" {
				t.Errorf("%s: network_mode %q, want service:traefik (the addresses are loopback)", name, s.NetworkMode)
			}
		}
	})

	t.Run("traefik mounts", func(t *testing.T) {
		mounts, err := tr.Mounts()
		if err != nil {
			t.Fatal(err)
		}
		targets := map[string]string{}
		for _, m := range mounts {
			if _, err := os.Stat(filepath.Join(root, m.Source)); err != nil {
				t.Errorf("mount source %s: %v", m.Source, err)
			}
			if !m.ReadOnly {
				t.Errorf("mount %s is writable", m.Target)
			}
			targets[m.Target] = filepath.Clean(m.Source)
		}
		want := map[string]string{
			str(static, "providers.file.filename"):                                                  "traefik/dynamic.yml",
			str(dynamic, "http.middlewares.previewgate.plugin.previewgate.resolverSecretFile"):      "traefik/previewgate-secret",
			"/plugins-local/src/" + str(static, "experimental.localPlugins.previewgate.moduleName"): ".",
		}
		for target, src := range want {
			if targets[target] != src {
				t.Errorf("%s is mounted from %q, want %q", target, targets[target], src)
			}
		}
		var cfg string
		for _, a := range tr.Command {
			if v, ok := strings.CutPrefix(a, "--configFile="); ok {
				cfg = v
			}
		}
		if cfg == "" || targets[cfg] != "traefik/traefik.yml" {
			t.Errorf("--configFile=%q is not traefik/traefik.yml", cfg)
		}
	})

	t.Run("ports", func(t *testing.T) {
		_, webPort, _ := net.SplitHostPort(str(static, "entryPoints.web.address"))
		if len(tr.Ports) != 1 || tr.Ports[0] != webPort+":"+webPort {
			t.Errorf("ports %v, want only the web entry point %s", tr.Ports, webPort)
		}
		_, devPort, _ := net.SplitHostPort(DevWebAddr)
		if devPort != webPort {
			t.Errorf("the dev stack's web port %s differs from %s", devPort, webPort)
		}
		admin := str(static, "entryPoints.traefik.address")
		if admin != DevAdminAddr {
			t.Errorf("the admin entry point %s is not the dev stack's %s (loopback only)", admin, DevAdminAddr)
		}
		if tmpl := sm.Environment["DAYTONA_SIM_PROXY_TEMPLATE_URL"]; !strings.HasSuffix(tmpl, ".localhost:"+webPort) {
			t.Errorf("the simulator's preview URL template %q does not use port %s", tmpl, webPort)
		}
	})

	t.Run("decision socket", func(t *testing.T) {
		for _, dyn := range []string{"dynamic.yml", "dynamic-direct.yml"} {
			d, err := loadYAML(filepath.Join(root, "traefik", dyn))
			if err != nil {
				t.Fatal(err)
			}
			if got := str(d, "http.middlewares.previewgate.plugin.previewgate.resolverSocket"); got != DevDecideSocket {
				t.Errorf("%s: resolverSocket %q, want %q", dyn, got, DevDecideSocket)
			}
		}
		// An abstract name reaches the resolver because it shares
		// Traefik's network namespace.
		if got := rs.Environment["PREVIEWGATE_DECIDE_SOCKET"]; got != DevDecideSocket || rs.NetworkMode != "service:traefik" {
			t.Errorf("resolver: PREVIEWGATE_DECIDE_SOCKET %q, network_mode %q; want %q in Traefik's network namespace", got, rs.NetworkMode, DevDecideSocket)
		}
	})

	t.Run("resolver address and secret", func(t *testing.T) {
		internal := rs.Environment["PREVIEWGATE_INTERNAL_ADDR"]
		if internal != DevResolverInternal || rs.Environment["PREVIEWGATE_PUBLIC_ADDR"] != DevResolverPublic {
			t.Errorf("resolver listeners %s, %s; the dev stack's are %s, %s", internal, rs.Environment["PREVIEWGATE_PUBLIC_ADDR"], DevResolverInternal, DevResolverPublic)
		}
		for _, u := range []string{
			str(dynamic, "http.middlewares.previewgate.plugin.previewgate.resolverURL"),
			str(static, "providers.http.endpoint"),
		} {
			pu, err := url.Parse(u)
			if err != nil || pu.Host != internal {
				t.Errorf("%s does not point at the resolver's internal listener %s", u, internal)
			}
		}
		servers, err := getPath(dynamic, "http.services.previewgate-resolver.loadBalancer.servers")
		if err != nil {
			t.Fatal(err)
		}
		if list, ok := servers.([]interface{}); !ok || len(list) != 1 || list[0].(map[string]interface{})["url"] != "http://"+internal {
			t.Errorf("the fallback service %v is not the resolver's internal listener", servers)
		}
		secret, err := os.ReadFile(filepath.Join(root, "traefik", "previewgate-secret"))
		if err != nil {
			t.Fatal(err)
		}
		if header := str(static, "providers.http.headers.X-Previewgate-Key"); header != strings.TrimSpace(string(secret)) {
			t.Error("Traefik's HTTP provider sends another secret than traefik/previewgate-secret")
		}
		mounts, _ := rs.Mounts()
		if len(mounts) != 1 || mounts[0].Source != "./traefik/previewgate-secret" || mounts[0].Target != rs.Environment["PREVIEWGATE_SECRET_FILE"] {
			t.Errorf("the resolver's secret file is not traefik/previewgate-secret: %v", mounts)
		}
	})

	t.Run("simulator and runners", func(t *testing.T) {
		simAddr := sm.Environment["DAYTONA_SIM_API_ADDR"]
		if simAddr != DevSimAPIAddr || rs.Environment["DAYTONA_API_URL"] != "http://"+simAddr+"/api" {
			t.Errorf("DAYTONA_API_URL %s, simulator API %s, dev stack %s", rs.Environment["DAYTONA_API_URL"], simAddr, DevSimAPIAddr)
		}
		if rs.Environment["PROXY_API_KEY"] != sm.Environment["DAYTONA_SIM_PROXY_API_KEY"] || rs.Environment["PROXY_API_KEY"] != SimProxyAPIKey {
			t.Error("the resolver's PROXY_API_KEY is not the simulator's")
		}
		runners := strings.Fields(sm.Environment["DAYTONA_SIM_RUNNERS"])
		if strings.Join(runners, ",") != DevRunners {
			t.Errorf("runners %v, the dev stack's are %s", runners, DevRunners)
		}
		var static []string
		for _, r := range runners {
			name, addr, _ := strings.Cut(r, "=")
			static = append(static, sim.DeriveRunnerID(name)+"=http://"+addr)
		}
		if got := rs.Environment["PREVIEWGATE_STATIC_RUNNERS"]; got != strings.Join(static, ",") {
			t.Errorf("PREVIEWGATE_STATIC_RUNNERS %s, want %s", got, strings.Join(static, ","))
		}
	})
}

// getPath reads a dotted path in nested maps.
func getPath(m map[string]interface{}, path string) (interface{}, error) {
	var cur interface{} = m
	for _, k := range strings.Split(path, ".") {
		mm, ok := cur.(map[string]interface{})
		if !ok {
			return nil, &pathError{path}
		}
		if cur, ok = mm[k]; !ok {
			return nil, &pathError{path}
		}
	}
	return cur, nil
}

type pathError struct{ path string }

func (e *pathError) Error() string { return "no " + e.path }

// pinnedTraefik is the Traefik version the tests build and run: the
// default of scripts/build-traefik.sh.
func pinnedTraefik(t *testing.T, root string) string {
	t.Helper()
	script, err := os.ReadFile(filepath.Join(root, "scripts", "build-traefik.sh"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`TRAEFIK_VERSION:-(v[0-9.]+)`).FindSubmatch(script)
	if m == nil {
		t.Fatal("no default TRAEFIK_VERSION in scripts/build-traefik.sh")
	}
	return string(m[1])
}

// The Helm values run the Traefik release the tests run, like
// docker-compose.yml.
func TestHelmValuesRunThePinnedTraefik(t *testing.T) {
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	v, err := helm.Load(filepath.Join(root, "traefik", "helm", "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if want := pinnedTraefik(t, root); v.Image.Tag != want {
		t.Errorf("image.tag %q, want %s (scripts/build-traefik.sh)", v.Image.Tag, want)
	}
}

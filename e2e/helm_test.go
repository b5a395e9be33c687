package e2e

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/previewgate/previewgate/internal/stack"
)

// traefik/helm/values.yaml, run as the official chart would run it: Traefik
// with the chart's arguments for these values and the plugin mounted from
// its ConfigMap through the volume's items, the plugin's secret from the
// environment (resolverSecretEnv), the HTTP provider's header through
// $(VAR) expansion, the file provider's routers, and the resolver sidecar
// with the values' environment. Start has waited for the gateway's /health
// through the plugin and for every runner's router (the HTTP provider
// authenticated).
func TestHelmValuesRunTheGateway(t *testing.T) {
	s := startStack(t, stack.Options{StaticRunners: true, Helm: filepath.Join(root, "traefik", "helm", "values.yaml")})

	// Forward decisions come over the values' datagram socket (the plugin
	// answers 503 when it cannot reach it), runner by runner.
	h := http.Header{"Authorization": {"Bearer " + aliceKey}}
	for sandbox, runner := range map[string]string{"demo-private": "r1", "demo-r2": "r2"} {
		e := echo(t, s, s.Host(3000, sandbox), "/echo?a=1", h)
		if e.SandboxID != sandbox || e.RunnerName != runner || e.Port != "3000" {
			t.Errorf("%s: reached %s:%s on %s, want it on %s", sandbox, e.SandboxID, e.Port, e.RunnerName, runner)
		}
		for k := range e.Headers {
			if strings.HasPrefix(k, "X-Previewgate-") || k == "Authorization" {
				t.Errorf("%s reached the sandbox", k)
			}
		}
		noRunnerToken(t, e)
	}
	// Nothing unauthorised is forwarded; the resolver's answer comes back.
	resp, body := get(t, s, s.Host(3000, "demo-private"), "/", nil)
	if resp.StatusCode == http.StatusOK || resp.StatusCode >= 500 {
		t.Errorf("private sandbox without credentials: %s %s", resp.Status, body)
	}
	if strings.Contains(string(body), s.Secret) {
		t.Error("the answer shows the shared secret")
	}
}

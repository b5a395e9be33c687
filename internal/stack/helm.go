package stack

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/previewgate/previewgate/internal/helm"
	"github.com/previewgate/previewgate/internal/pluginsrc"
)

// What traefik/helm/values.yaml names, that a stack started from it
// provides: the Secret previewgate's keys, the resolver sidecar, the local
// plugin and the pod's addresses and preview domain, which each stack
// replaces by its own.
const (
	helmSecret            = "previewgate"
	helmResolverContainer = "previewgate-resolver"
	helmPlugin            = "previewgate"
	helmResolverInternal  = "127.0.0.1:8081"
	helmDomain            = "preview.example.com"
)

// helmConfig is a stack's Traefik and resolver set up from Helm values as
// the official chart would (internal/helm).
type helmConfig struct {
	resolverEnv []string
	traefikEnv  []string
	traefikArgs []string
}

// loadHelm renders the values at o.Helm for this stack: its addresses, its
// decision socket, and "localhost" as the preview domain. It writes the file
// provider's configuration and installs the plugin from its ConfigMap, each
// file where the ConfigMap volume's items put it.
func loadHelm(o Options, websecure string) (*helmConfig, error) {
	if o.ExtraStatic != nil || o.ExtraDynamic != nil || len(o.Plugins) != 0 || o.Direct || o.PluginCacheSize != nil {
		return nil, fmt.Errorf("stack: a stack from Helm values takes its configuration from them alone")
	}
	v, err := helm.Load(o.Helm,
		helmResolverInternal, o.ResolverInternal,
		DevDecideSocket, DecideSocket(o.ResolverInternal),
		helmDomain, "localhost")
	if err != nil {
		return nil, err
	}
	secrets := helm.Secrets{helmSecret: {"secret": o.Secret, "proxy-api-key": SimProxyAPIKey}}
	c := &helmConfig{}
	rc, err := v.Container(helmResolverContainer)
	if err != nil {
		return nil, err
	}
	if c.resolverEnv, _, err = helm.ResolveEnv(rc.Env, secrets); err != nil {
		return nil, err
	}
	var env map[string]string
	if c.traefikEnv, env, err = helm.ResolveEnv(v.Env, secrets); err != nil {
		return nil, err
	}

	dynDir := filepath.Join(o.Dir, "dynamic")
	if err := os.MkdirAll(dynDir, 0o755); err != nil {
		return nil, err
	}
	dyn, err := v.FileProviderConfig()
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dynDir, "config.yml"), dyn, 0o644); err != nil {
		return nil, err
	}
	addrs := map[string]string{"web": o.WebAddr, "websecure": websecure, "traefik": o.AdminAddr}
	if c.traefikArgs, err = v.Args(addrs, dynDir, env); err != nil {
		return nil, err
	}
	// The chart serves the API through its dashboard's IngressRoute; the
	// stack reads it on the traefik entry point.
	c.traefikArgs = append(c.traefikArgs, "--api.insecure=true", "--api.dashboard=false", "--log.level="+o.TraefikLogLevel)

	src, err := pluginsrc.Files(o.Root)
	if err != nil {
		return nil, err
	}
	manifest, err := helm.PluginConfigMap("previewgate-plugin", "", src)
	if err != nil {
		return nil, err
	}
	data, err := helm.ConfigMapData(manifest)
	if err != nil {
		return nil, err
	}
	files, err := v.PluginFiles(helmPlugin, data)
	if err != nil {
		return nil, err
	}
	return c, pluginsrc.Install(o.Dir, pluginsrc.Module, files)
}

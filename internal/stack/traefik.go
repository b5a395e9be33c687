package stack

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/previewgate/previewgate/internal/pluginsrc"
	"gopkg.in/yaml.v3"
)

// traefikSetup is what the generated configuration needs to know.
type traefikSetup struct {
	root, dir        string
	webAddr          string
	adminAddr        string
	resolverInternal string
	secret           string
	direct           bool
	directRunnerURL  string
	pollInterval     string
	logLevel         string
	pluginCache      *int
	extraStatic      func(map[string]interface{})
	extraDynamic     func(map[string]interface{})
	plugins          []LocalPlugin
}

// setting is one value written into a loaded YAML configuration.
type setting struct {
	m    map[string]interface{}
	path string
	v    interface{}
}

// writeTraefikConfig writes the static and dynamic configuration from the
// repository's traefik/ files, with this stack's addresses and paths, and
// installs the plugin's source as a local plugin. It returns the static
// configuration's path.
func writeTraefikConfig(s traefikSetup) (string, error) {
	static, err := loadYAML(filepath.Join(s.root, "traefik", "traefik.yml"))
	if err != nil {
		return "", err
	}
	dynName := "dynamic.yml"
	if s.direct {
		dynName = "dynamic-direct.yml"
	}
	dynamic, err := loadYAML(filepath.Join(s.root, "traefik", dynName))
	if err != nil {
		return "", err
	}

	dynPath := filepath.Join(s.dir, "dynamic.yml")
	secretPath := filepath.Join(s.dir, "previewgate-secret")
	sets := []setting{
		{static, "entryPoints.web.address", s.webAddr},
		{static, "entryPoints.traefik.address", s.adminAddr},
		{static, "providers.file.filename", dynPath},
		{dynamic, "http.middlewares.previewgate.plugin.previewgate.resolverURL", "http://" + s.resolverInternal},
		{dynamic, "http.middlewares.previewgate.plugin.previewgate.resolverSecretFile", secretPath},
		{dynamic, "http.middlewares.previewgate.plugin.previewgate.resolverSocket", DecideSocket(s.resolverInternal)},
	}
	if s.direct {
		delete(static["providers"].(map[string]interface{}), "http")
		sets = append(sets, setting{dynamic, "http.services.runner.loadBalancer.servers", []interface{}{map[string]interface{}{"url": s.directRunnerURL}}})
	} else {
		sets = append(sets,
			setting{dynamic, "http.services.previewgate-resolver.loadBalancer.servers", []interface{}{map[string]interface{}{"url": "http://" + s.resolverInternal}}},
			setting{static, "providers.http.endpoint", "http://" + s.resolverInternal + "/v1/traefik/config"},
			setting{static, "providers.http.headers.X-Previewgate-Key", s.secret},
		)
		if s.pollInterval != "" {
			sets = append(sets, setting{static, "providers.http.pollInterval", s.pollInterval})
		}
	}
	if s.logLevel != "" {
		sets = append(sets, setting{static, "log.level", s.logLevel})
	}
	if s.pluginCache != nil {
		sets = append(sets, setting{dynamic, "http.middlewares.previewgate.plugin.previewgate.cacheSize", *s.pluginCache})
	}
	for _, st := range sets {
		if err := setPath(st.m, st.path, st.v); err != nil {
			return "", err
		}
	}

	if s.extraStatic != nil {
		s.extraStatic(static)
	}
	if s.extraDynamic != nil {
		s.extraDynamic(dynamic)
	}
	for _, p := range s.plugins {
		if err := setPath(static, "experimental.localPlugins."+p.Name, map[string]interface{}{"moduleName": p.Module}); err != nil {
			return "", err
		}
		files := make([]pluginsrc.File, 0, len(p.Files))
		for name, body := range p.Files {
			files = append(files, pluginsrc.File{Path: name, Body: []byte(body)})
		}
		if err := pluginsrc.Install(s.dir, p.Module, files); err != nil {
			return "", err
		}
	}
	if err := os.WriteFile(secretPath, []byte(s.secret+"\n"), 0o600); err != nil {
		return "", err
	}
	if err := writeYAML(dynPath, dynamic); err != nil {
		return "", err
	}
	staticPath := filepath.Join(s.dir, "traefik.yml")
	if err := writeYAML(staticPath, static); err != nil {
		return "", err
	}
	return staticPath, installPlugin(s.root, s.dir)
}

// installPlugin copies the plugin's manifest, go.mod and non-test sources to
// dir/plugins-local/src/<module>, where Traefik's local-plugin mode reads them.
func installPlugin(root, dir string) error {
	files, err := pluginsrc.Files(root)
	if err != nil {
		return err
	}
	return pluginsrc.Install(dir, pluginsrc.Module, files)
}

func loadYAML(path string) (map[string]interface{}, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m map[string]interface{}
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

func writeYAML(path string, m map[string]interface{}) error {
	b, err := yaml.Marshal(m)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// setPath sets a dotted path in nested maps; every parent must exist, so a
// renamed key in traefik/*.yml fails loudly here instead of being added.
func setPath(m map[string]interface{}, path string, v interface{}) error {
	keys := strings.Split(path, ".")
	for i, k := range keys[:len(keys)-1] {
		next, ok := m[k].(map[string]interface{})
		if !ok {
			return fmt.Errorf("stack: traefik config has no %s", strings.Join(keys[:i+1], "."))
		}
		m = next
	}
	last := keys[len(keys)-1]
	if _, ok := m[last]; !ok && !strings.HasPrefix(last, "X-") && last != "cacheSize" && !strings.HasPrefix(path, "experimental.localPlugins.") {
		return fmt.Errorf("stack: traefik config has no %s", path)
	}
	m[last] = v
	return nil
}

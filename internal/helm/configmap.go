package helm

import (
	"fmt"

	"github.com/previewgate/previewgate/internal/pluginsrc"
	"gopkg.in/yaml.v3"
)

// MaxConfigMapData bounds a ConfigMap's data: Kubernetes refuses objects
// over 1 MiB, metadata included.
const MaxConfigMapData = 1000 * 1000

type configMap struct {
	APIVersion string            `yaml:"apiVersion"`
	Kind       string            `yaml:"kind"`
	Metadata   metadata          `yaml:"metadata"`
	Data       map[string]string `yaml:"data"`
}

type metadata struct {
	Name      string            `yaml:"name"`
	Namespace string            `yaml:"namespace,omitempty"`
	Labels    map[string]string `yaml:"labels,omitempty"`
}

// PluginConfigMap is the ConfigMap manifest holding the plugin's files,
// each under its Key; the values' volume items put them back at their
// paths.
func PluginConfigMap(name, namespace string, files []pluginsrc.File) ([]byte, error) {
	cm := configMap{APIVersion: "v1", Kind: "ConfigMap",
		Metadata: metadata{Name: name, Namespace: namespace,
			Labels: map[string]string{"app.kubernetes.io/part-of": "previewgate"}},
		Data: map[string]string{}}
	size := 0
	for _, f := range files {
		k := f.Key()
		if _, dup := cm.Data[k]; dup {
			return nil, fmt.Errorf("helm: two plugin files have the ConfigMap key %q", k)
		}
		cm.Data[k] = string(f.Body)
		size += len(k) + len(f.Body)
	}
	if size > MaxConfigMapData {
		return nil, fmt.Errorf("helm: the plugin's files are %d bytes, over a ConfigMap's %d", size, MaxConfigMapData)
	}
	return yaml.Marshal(cm)
}

// ConfigMapData reads a ConfigMap manifest's data.
func ConfigMapData(manifest []byte) (map[string]string, error) {
	var cm configMap
	if err := yaml.Unmarshal(manifest, &cm); err != nil {
		return nil, err
	}
	if cm.Kind != "ConfigMap" || cm.APIVersion != "v1" {
		return nil, fmt.Errorf("helm: not a v1 ConfigMap: %s %s", cm.APIVersion, cm.Kind)
	}
	return cm.Data, nil
}

// Package helm reads previewgate's values for the official Traefik Helm
// chart (traefik/helm/values.yaml) and renders what chart 41.3.0 makes of
// the keys they set: Traefik's arguments and environment, the resolver
// sidecar's environment, the file provider's configuration and the plugin's
// source tree, mounted from its ConfigMap. There is no Helm or Kubernetes
// here: the stack runs the real Traefik and resolver with these renderings.
//
// Each rendering follows the chart's templates (_podtemplate.tpl,
// provider-file-cm.yaml, _helpers.tpl) for the keys in Values only; the
// Kubernetes providers, which need a cluster, are left out.
package helm

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/previewgate/previewgate/internal/pluginsrc"
	"gopkg.in/yaml.v3"
)

// Values are the chart values previewgate sets.
type Values struct {
	Image struct {
		Tag string `yaml:"tag"`
	} `yaml:"image"`
	Experimental struct {
		LocalPlugins map[string]LocalPlugin `yaml:"localPlugins"`
	} `yaml:"experimental"`
	Deployment struct {
		AdditionalVolumes    []Volume    `yaml:"additionalVolumes"`
		AdditionalContainers []Container `yaml:"additionalContainers"`
	} `yaml:"deployment"`
	// Env is Traefik's container environment.
	Env                 []EnvVar        `yaml:"env"`
	AdditionalArguments []string        `yaml:"additionalArguments"`
	Ports               map[string]Port `yaml:"ports"`
	Providers           struct {
		File struct {
			Enabled bool                   `yaml:"enabled"`
			Watch   *bool                  `yaml:"watch"` // chart default: true
			Content map[string]interface{} `yaml:"content"`
		} `yaml:"file"`
	} `yaml:"providers"`
}

// LocalPlugin is one of experimental.localPlugins.
type LocalPlugin struct {
	ModuleName string `yaml:"moduleName"`
	MountPath  string `yaml:"mountPath"`
	Type       string `yaml:"type"`
	VolumeName string `yaml:"volumeName"`
	SubPath    string `yaml:"subPath"`
}

// Volume is one of deployment.additionalVolumes (configMap volumes only).
type Volume struct {
	Name      string           `yaml:"name"`
	ConfigMap *ConfigMapVolume `yaml:"configMap"`
}

// ConfigMapVolume mounts a ConfigMap: only the keys of Items, each at its
// path.
type ConfigMapVolume struct {
	Name  string    `yaml:"name"`
	Items []KeyPath `yaml:"items"`
}

// KeyPath maps a ConfigMap key to a file path in its volume.
type KeyPath struct {
	Key  string `yaml:"key"`
	Path string `yaml:"path"`
}

// Container is one of deployment.additionalContainers.
type Container struct {
	Name  string   `yaml:"name"`
	Image string   `yaml:"image"`
	Env   []EnvVar `yaml:"env"`
}

// EnvVar is a container's environment variable: a value, or a key of a
// Secret.
type EnvVar struct {
	Name      string     `yaml:"name"`
	Value     string     `yaml:"value"`
	ValueFrom *EnvSource `yaml:"valueFrom"`
}

// EnvSource is an environment variable's valueFrom (secretKeyRef only).
type EnvSource struct {
	SecretKeyRef *SecretKeyRef `yaml:"secretKeyRef"`
}

// SecretKeyRef names a key of a Secret.
type SecretKeyRef struct {
	Name string `yaml:"name"`
	Key  string `yaml:"key"`
}

// Port is one of ports (an entry point).
type Port struct {
	Transport struct {
		RespondingTimeouts map[string]string `yaml:"respondingTimeouts"`
	} `yaml:"transport"`
}

// Errors, wrapped with what they concern.
var (
	ErrValues = errors.New("helm: values the chart would refuse or Traefik could not use")
)

// Load reads a values file after replacing, in its text, each old string
// of pairs by the new one (a stack's addresses and domain); every old
// string must occur.
func Load(path string, pairs ...string) (*Values, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	text := string(b)
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(text, pairs[i]) {
			return nil, fmt.Errorf("%w: %s has no %q to replace", ErrValues, path, pairs[i])
		}
	}
	text = strings.NewReplacer(pairs...).Replace(text)
	var v Values
	if err := yaml.Unmarshal([]byte(text), &v); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &v, nil
}

// Secrets are Kubernetes Secrets: name -> key -> value.
type Secrets map[string]map[string]string

// ResolveEnv gives the environment of vars as "NAME=value" lines and as a
// map, reading secretKeyRefs from secrets.
func ResolveEnv(vars []EnvVar, secrets Secrets) ([]string, map[string]string, error) {
	var lines []string
	m := map[string]string{}
	for _, e := range vars {
		val := e.Value
		if e.ValueFrom != nil {
			ref := e.ValueFrom.SecretKeyRef
			if ref == nil {
				return nil, nil, fmt.Errorf("%w: env %s: only secretKeyRef is rendered", ErrValues, e.Name)
			}
			v, ok := secrets[ref.Name][ref.Key]
			if !ok {
				return nil, nil, fmt.Errorf("%w: env %s: no key %q in secret %q", ErrValues, e.Name, ref.Key, ref.Name)
			}
			val = v
		}
		lines = append(lines, e.Name+"="+val)
		m[e.Name] = val
	}
	return lines, m, nil
}

// Container returns the additional container called name.
func (v *Values) Container(name string) (*Container, error) {
	for i, c := range v.Deployment.AdditionalContainers {
		if c.Name == name {
			return &v.Deployment.AdditionalContainers[i], nil
		}
	}
	return nil, fmt.Errorf("%w: no additional container %q", ErrValues, name)
}

// varRef is Kubernetes' $(VAR) in a container's arguments.
var varRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)`)

// Args are the arguments the chart gives Traefik for these values: the
// entry points at addrs (name -> host:port; the pod's are ":{port}/tcp"),
// the file provider reading fileDir, the local plugins, then the
// additional arguments with $(VAR) expanded from env as Kubernetes does
// (an undefined variable is an error here rather than left as it is).
func (v *Values) Args(addrs map[string]string, fileDir string, env map[string]string) ([]string, error) {
	var args []string
	names := make([]string, 0, len(addrs))
	for name := range addrs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		args = append(args, "--entryPoints."+name+".address="+addrs[name])
		if name == "websecure" {
			args = append(args, "--entryPoints.websecure.http.tls=true")
		}
		rt := v.Ports[name].Transport.RespondingTimeouts
		for _, k := range []string{"readTimeout", "writeTimeout", "idleTimeout"} {
			if rt[k] != "" {
				args = append(args, "--entryPoints."+name+".transport.respondingTimeouts."+k+"="+rt[k])
			}
		}
	}
	args = append(args, "--ping=true")
	if f := v.Providers.File; f.Enabled {
		args = append(args, "--providers.file.directory="+fileDir)
		if f.Watch == nil || *f.Watch {
			args = append(args, "--providers.file.watch=true")
		}
	}
	plugins := make([]string, 0, len(v.Experimental.LocalPlugins))
	for name := range v.Experimental.LocalPlugins {
		plugins = append(plugins, name)
	}
	sort.Strings(plugins)
	for _, name := range plugins {
		m := v.Experimental.LocalPlugins[name].ModuleName
		if m == "" {
			return nil, fmt.Errorf("%w: local plugin %s is missing moduleName", ErrValues, name)
		}
		args = append(args, "--experimental.localPlugins."+name+".moduleName="+m)
	}
	var missing []string
	for _, a := range v.AdditionalArguments {
		args = append(args, varRef.ReplaceAllStringFunc(a, func(ref string) string {
			name := ref[2 : len(ref)-1]
			val, ok := env[name]
			if !ok {
				missing = append(missing, name)
			}
			return val
		}))
	}
	if len(missing) != 0 {
		return nil, fmt.Errorf("%w: additionalArguments use $(%s), not in Traefik's env", ErrValues, strings.Join(missing, "), $("))
	}
	return args, nil
}

// FileProviderConfig is the file provider's config.yml, as the chart's
// ConfigMap holds it.
func (v *Values) FileProviderConfig() ([]byte, error) {
	if !v.Providers.File.Enabled {
		return nil, fmt.Errorf("%w: providers.file is not enabled", ErrValues)
	}
	return yaml.Marshal(v.Providers.File.Content)
}

// PluginFiles is the tree the chart mounts at local plugin name's
// mountPath: a localPath plugin's volume, a ConfigMap whose data is cm,
// each item at its path. The mount path must be where Traefik reads the
// module.
func (v *Values) PluginFiles(name string, cm map[string]string) ([]pluginsrc.File, error) {
	p, ok := v.Experimental.LocalPlugins[name]
	if !ok {
		return nil, fmt.Errorf("%w: no local plugin %q", ErrValues, name)
	}
	var problems []string
	if want := "/plugins-local/src/" + p.ModuleName; p.MountPath != want {
		problems = append(problems, fmt.Sprintf("mountPath %q: Traefik reads the module at %q", p.MountPath, want))
	}
	if p.Type != "localPath" || p.SubPath != "" {
		problems = append(problems, fmt.Sprintf("type %q (subPath %q): want localPath, no subPath (a ConfigMap volume with items)", p.Type, p.SubPath))
	}
	var vol *Volume
	for i := range v.Deployment.AdditionalVolumes {
		if v.Deployment.AdditionalVolumes[i].Name == p.VolumeName {
			vol = &v.Deployment.AdditionalVolumes[i]
		}
	}
	if vol == nil || vol.ConfigMap == nil {
		problems = append(problems, fmt.Sprintf("volume %q: not a configMap volume in deployment.additionalVolumes", p.VolumeName))
	}
	if len(problems) != 0 {
		return nil, fmt.Errorf("%w: local plugin %s: %s", ErrValues, name, strings.Join(problems, "; "))
	}
	var files []pluginsrc.File
	used := map[string]bool{}
	for _, it := range vol.ConfigMap.Items {
		body, ok := cm[it.Key]
		if !ok {
			problems = append(problems, fmt.Sprintf("item %q: not in the ConfigMap", it.Key))
			continue
		}
		used[it.Key] = true
		files = append(files, pluginsrc.File{Path: it.Path, Body: []byte(body)})
	}
	for k := range cm {
		if !used[k] {
			problems = append(problems, fmt.Sprintf("ConfigMap key %q: no item mounts it", k))
		}
	}
	if len(problems) != 0 {
		sort.Strings(problems)
		return nil, fmt.Errorf("%w: local plugin %s: %s", ErrValues, name, strings.Join(problems, "; "))
	}
	return files, nil
}

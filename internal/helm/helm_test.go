package helm

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/previewgate/previewgate/internal/pluginsrc"
	"github.com/previewgate/previewgate/plugin"
	"gopkg.in/yaml.v3"
)

// root is the repository root, two levels up.
var root = filepath.Join("..", "..")

func loadValues(t *testing.T, pairs ...string) *Values {
	t.Helper()
	v, err := Load(filepath.Join(root, "traefik", "helm", "values.yaml"), pairs...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// The ConfigMap that cmd/plugin-configmap prints, mounted through the
// values' items, is exactly the plugin's tree: a plugin file missing from
// the items (Kubernetes mounts only the listed keys) fails here.
func TestPluginConfigMapMountsAsThePluginTree(t *testing.T) {
	src, err := pluginsrc.Files(root)
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := PluginConfigMap("previewgate-plugin", "traefik", src)
	if err != nil {
		t.Fatal(err)
	}
	data, err := ConfigMapData(manifest)
	if err != nil {
		t.Fatal(err)
	}
	v := loadValues(t)
	got, err := v.PluginFiles("previewgate", data)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, f := range src {
		want[f.Path] = string(f.Body)
	}
	for _, f := range got {
		if want[f.Path] != string(f.Body) {
			t.Errorf("%s: the mounted file differs from the repository's", f.Path)
		}
		delete(want, f.Path)
	}
	for p := range want {
		t.Errorf("%s: not mounted (add {key: %s, path: %s} to the volume's items)", p, pluginsrc.File{Path: p}.Key(), p)
	}
	if vol := v.Deployment.AdditionalVolumes[0]; vol.ConfigMap == nil || vol.ConfigMap.Name != "previewgate-plugin" {
		t.Errorf("the plugin's volume mounts ConfigMap %+v, want previewgate-plugin (cmd/plugin-configmap's default)", vol.ConfigMap)
	}
}

// The values' routers, middleware and services are traefik/dynamic.yml's,
// for the values' domain, with the secret from the environment instead of
// a file, and on the chart's HTTPS entry point too: the Kubernetes gateway
// is the dev stack's topology.
func TestFileProviderIsTheDevConfiguration(t *testing.T) {
	v := loadValues(t, "preview.example.com", "localhost")
	got, err := v.FileProviderConfig()
	if err != nil {
		t.Fatal(err)
	}
	var have, want map[string]interface{}
	if err := yaml.Unmarshal(got, &have); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "traefik", "dynamic.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	wantHTTP := want["http"].(map[string]interface{})
	wantHTTP["routers"].(map[string]interface{})["previewgate"].(map[string]interface{})["entryPoints"] = []interface{}{"web", "websecure"}
	cfg := wantHTTP["middlewares"].(map[string]interface{})["previewgate"].(map[string]interface{})["plugin"].(map[string]interface{})["previewgate"].(map[string]interface{})
	delete(cfg, "resolverSecretFile")
	cfg["resolverSecretEnv"] = "PREVIEWGATE_SECRET"
	if !reflect.DeepEqual(have, want) {
		a, _ := yaml.Marshal(have)
		b, _ := yaml.Marshal(want)
		t.Errorf("the values' file provider:\n%s\ntraefik/dynamic.yml, adapted:\n%s", a, b)
	}
}

// The middleware's configuration is one the plugin accepts (New validates
// it all and makes no network call), with its secret from Traefik's
// environment as the values give it.
func TestMiddlewareConfigurationIsValid(t *testing.T) {
	v := loadValues(t)
	_, env, err := ResolveEnv(v.Env, Secrets{"previewgate": {"secret": strings.Repeat("s", 40)}})
	if err != nil {
		t.Fatal(err)
	}
	for k, val := range env {
		t.Setenv(k, val)
	}
	mw := v.Providers.File.Content["http"].(map[string]interface{})["middlewares"].(map[string]interface{})["previewgate"].(map[string]interface{})["plugin"].(map[string]interface{})["previewgate"]
	b, err := json.Marshal(mw)
	if err != nil {
		t.Fatal(err)
	}
	cfg := plugin.CreateConfig()
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(cfg); err != nil {
		t.Fatalf("the middleware's configuration: %v", err)
	}
	if cfg.ResolverSecretEnv == "" {
		t.Error("the middleware does not take its secret from the environment")
	}
	if _, err := plugin.New(context.Background(), http.NotFoundHandler(), cfg, "previewgate"); err != nil {
		t.Fatal(err)
	}
}

// Traefik's arguments: the chart's for the values' keys, and the HTTP
// provider's header with the secret that Kubernetes expands from the
// container's environment.
func TestArgs(t *testing.T) {
	v := loadValues(t)
	_, env, err := ResolveEnv(v.Env, Secrets{"previewgate": {"secret": "s3cret"}})
	if err != nil {
		t.Fatal(err)
	}
	args, err := v.Args(map[string]string{"web": ":8000", "websecure": ":8443"}, "/etc/traefik/dynamic", env)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"--entryPoints.web.address=:8000",
		"--entryPoints.web.transport.respondingTimeouts.readTimeout=0s",
		"--entryPoints.websecure.http.tls=true",
		"--providers.file.directory=/etc/traefik/dynamic",
		"--experimental.localPlugins.previewgate.moduleName=" + pluginsrc.Module,
		"--providers.http.headers.X-Previewgate-Key=s3cret",
	} {
		if !contains(args, want) {
			t.Errorf("no %s in %q", want, args)
		}
	}

	v.AdditionalArguments = append(v.AdditionalArguments, "--x=$(NOT_SET)")
	if _, err := v.Args(nil, "/d", env); !errors.Is(err, ErrValues) || !strings.Contains(err.Error(), "NOT_SET") {
		t.Errorf("an undefined $(VAR): %v, want ErrValues naming it", err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// What the chart would not mount where Traefik reads the plugin is
// refused, every problem at once.
func TestPluginFilesRefusals(t *testing.T) {
	cm := map[string]string{".traefik.yml": "m", "plugin_a.go": "a"}
	good := func() *Values {
		v := &Values{}
		v.Experimental.LocalPlugins = map[string]LocalPlugin{"p": {ModuleName: "example.com/m",
			MountPath: "/plugins-local/src/example.com/m", Type: "localPath", VolumeName: "src"}}
		v.Deployment.AdditionalVolumes = []Volume{{Name: "src", ConfigMap: &ConfigMapVolume{Name: "cm",
			Items: []KeyPath{{".traefik.yml", ".traefik.yml"}, {"plugin_a.go", "plugin/a.go"}}}}}
		return v
	}
	if files, err := good().PluginFiles("p", cm); err != nil || len(files) != 2 || files[1].Path != "plugin/a.go" {
		t.Fatalf("the good values: %v, %+v", err, files)
	}
	for _, tc := range []struct {
		name   string
		change func(v *Values, cm map[string]string)
		want   []string
	}{
		{"mount path", func(v *Values, _ map[string]string) {
			p := v.Experimental.LocalPlugins["p"]
			p.MountPath = "/plugins/m"
			v.Experimental.LocalPlugins["p"] = p
		}, []string{`mountPath "/plugins/m"`}},
		{"type and volume", func(v *Values, _ map[string]string) {
			v.Experimental.LocalPlugins["p"] = LocalPlugin{ModuleName: "example.com/m", MountPath: "/plugins-local/src/example.com/m", Type: "inlinePlugin", VolumeName: "other"}
		}, []string{`type "inlinePlugin"`, `volume "other"`}},
		{"key not in the ConfigMap, key not mounted", func(v *Values, cm map[string]string) {
			v.Deployment.AdditionalVolumes[0].ConfigMap.Items[1].Key = "plugin_b.go"
		}, []string{`item "plugin_b.go"`, `key "plugin_a.go"`}},
		{"unknown plugin", func(v *Values, _ map[string]string) { v.Experimental.LocalPlugins = nil }, []string{`no local plugin "p"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, data := good(), map[string]string{}
			for k, x := range cm {
				data[k] = x
			}
			tc.change(v, data)
			_, err := v.PluginFiles("p", data)
			if !errors.Is(err, ErrValues) {
				t.Fatalf("err %v, want ErrValues", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%v: does not say %s", err, w)
				}
			}
		})
	}
}

func TestLoadRefusesAReplacementThatDoesNotApply(t *testing.T) {
	_, err := Load(filepath.Join(root, "traefik", "helm", "values.yaml"), "no.such.domain", "localhost")
	if !errors.Is(err, ErrValues) {
		t.Errorf("err %v, want ErrValues", err)
	}
}

func TestResolveEnv(t *testing.T) {
	vars := []EnvVar{{Name: "A", Value: "1"}, {Name: "B", ValueFrom: &EnvSource{SecretKeyRef: &SecretKeyRef{"s", "k"}}}}
	lines, m, err := ResolveEnv(vars, Secrets{"s": {"k": "v"}})
	if err != nil || !reflect.DeepEqual(lines, []string{"A=1", "B=v"}) || m["B"] != "v" {
		t.Errorf("%q %v %v", lines, m, err)
	}
	if _, _, err := ResolveEnv(vars, Secrets{"s": {}}); !errors.Is(err, ErrValues) {
		t.Errorf("a missing secret key: %v, want ErrValues", err)
	}
}

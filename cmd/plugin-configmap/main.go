// Command plugin-configmap prints the Kubernetes ConfigMap that holds the
// previewgate plugin's source, for the official Traefik Helm chart with
// traefik/helm/values.yaml:
//
//	go run ./cmd/plugin-configmap -namespace traefik | kubectl apply -f -
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/previewgate/previewgate/internal/helm"
	"github.com/previewgate/previewgate/internal/pluginsrc"
	"github.com/previewgate/previewgate/internal/stack"
)

func main() {
	name := flag.String("name", "previewgate-plugin", "the ConfigMap's name (the values' configMap volume names it)")
	namespace := flag.String("namespace", "", "the ConfigMap's namespace (Traefik's); empty: kubectl's current one")
	flag.Parse()
	if err := run(*name, *namespace); err != nil {
		fmt.Fprintln(os.Stderr, "plugin-configmap:", err)
		os.Exit(1)
	}
}

func run(name, namespace string) error {
	root, err := stack.Root()
	if err != nil {
		return err
	}
	files, err := pluginsrc.Files(root)
	if err != nil {
		return err
	}
	b, err := helm.PluginConfigMap(name, namespace, files)
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(b)
	return err
}

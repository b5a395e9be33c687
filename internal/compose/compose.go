// Package compose reads docker-compose.yml, so that tests can keep it true
// on machines without a Docker engine: the same addresses, secrets and
// configuration files as traefik/*.yml and the process-based dev stack.
package compose

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// File is the part of a compose file the checks read.
type File struct {
	Services map[string]Service `yaml:"services"`
}

// Service is one compose service.
type Service struct {
	Image       string            `yaml:"image"`
	Command     []string          `yaml:"command"`
	Ports       []string          `yaml:"ports"`
	Volumes     []string          `yaml:"volumes"`
	NetworkMode string            `yaml:"network_mode"`
	Environment map[string]string `yaml:"environment"`
	DependsOn   []string          `yaml:"depends_on"`
	Healthcheck *struct {
		Test     []string `yaml:"test"`
		Interval string   `yaml:"interval"`
	} `yaml:"healthcheck"`
	Build *struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
	} `yaml:"build"`
}

// Volume is a bind mount "source:target[:ro]".
type Volume struct {
	Source, Target string
	ReadOnly       bool
}

// Load parses root/docker-compose.yml; unknown keys are an error, so the
// checks cannot miss a setting.
func Load(root string) (*File, error) {
	f, err := os.Open(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	var c File
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("docker-compose.yml: %w", err)
	}
	return &c, nil
}

// Service returns the named service, or an error naming the missing one.
func (f *File) Service(name string) (Service, error) {
	s, ok := f.Services[name]
	if !ok {
		return Service{}, fmt.Errorf("docker-compose.yml has no %s service", name)
	}
	return s, nil
}

// Mounts parses the service's volumes.
func (s Service) Mounts() ([]Volume, error) {
	out := make([]Volume, 0, len(s.Volumes))
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) < 2 || len(parts) > 3 || (len(parts) == 3 && parts[2] != "ro") {
			return nil, fmt.Errorf("volume %q: want source:target[:ro]", v)
		}
		out = append(out, Volume{Source: parts[0], Target: parts[1], ReadOnly: len(parts) == 3})
	}
	return out, nil
}

// Environ returns the environment in os.Environ's form.
func (s Service) Environ() []string {
	out := make([]string, 0, len(s.Environment))
	for k, v := range s.Environment {
		out = append(out, k+"="+v)
	}
	return out
}

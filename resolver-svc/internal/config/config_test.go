package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

const goodSecret = "0123456789abcdef0123456789abcdef-x"

func base() []string {
	return []string{
		"PROXY_API_KEY=super_secret_key",
		"DAYTONA_API_URL=http://api:3000/api",
		"PREVIEWGATE_SECRET=" + goodSecret,
	}
}

func noFiles(string) ([]byte, error) { return nil, os.ErrNotExist }

func TestDefaults(t *testing.T) {
	c, err := Load(base(), noFiles)
	if err != nil {
		t.Fatal(err)
	}
	if c.Redis != nil || c.MemoryEntries != 100000 {
		t.Errorf("cache: redis %v, memory %d; want the in-memory default", c.Redis, c.MemoryEntries)
	}
	if c.Server.InternalAddr != "127.0.0.1:8081" || c.Server.PublicAddr != ":8080" || c.Server.ForwardAuth {
		t.Errorf("server %+v", c.Server)
	}
	if c.Routing != RoutingRunners || c.Runners.ParentRouter != "previewgate@file" {
		t.Errorf("routing %s %+v", c.Routing, c.Runners)
	}
	if c.Decide.DecisionTTL != 15*time.Second || c.Daytona.Timeout != 60*time.Second || string(c.CookieKey) != "super_secret_key" {
		t.Errorf("decide %+v daytona %+v", c.Decide, c.Daytona)
	}
}

// Every problem is reported at once, and no secret value is repeated.
func TestEveryProblemAtOnce(t *testing.T) {
	env := []string{
		"PROXY_API_KEY=the-api-key-value",
		"DAYTONA_API_URL=ftp://api",
		"PREVIEWGATE_SECRET=short-secret-value",
		"PREVIEWGATE_ROUTING=sideways",
		"PREVIEWGATE_DECISION_TTL=1500ms",
		"PREVIEWGATE_CACHE_PUBLIC_TTL=soon",
		"REDIS_HOST=redis", "REDIS_PORT=99999",
		"LOG_LEVEL=chatty",
		"PREVIEWGATE_TYPO=1",
		"PREVIEWGATE_INTERNAL_ADDR=nope",
		"TOOLBOX_ONLY_MODE=maybe",
		"PREVIEWGATE_DECIDE_SOCKET=@",
	}
	_, err := Load(env, noFiles)
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("err %v, want ErrInvalid", err)
	}
	for _, want := range []string{
		"DAYTONA_API_URL", "PREVIEWGATE_SECRET: must be at least 32", "PREVIEWGATE_ROUTING", "PREVIEWGATE_DECISION_TTL",
		"PREVIEWGATE_CACHE_PUBLIC_TTL", "REDIS_PORT", "LOG_LEVEL", "PREVIEWGATE_TYPO: unknown variable",
		"PREVIEWGATE_INTERNAL_ADDR", "TOOLBOX_ONLY_MODE", "PREVIEWGATE_DECIDE_SOCKET",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not mention %s:\n%v", want, err)
		}
	}
	for _, secret := range []string{"the-api-key-value", "short-secret-value"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("the error repeats a secret: %v", err)
		}
	}
}

func TestSecretFiles(t *testing.T) {
	files := map[string]string{"/run/key": "super_secret_key\n", "/run/secret": goodSecret + "\n", "/run/empty": "  \n"}
	read := func(p string) ([]byte, error) {
		if v, ok := files[p]; ok {
			return []byte(v), nil
		}
		return nil, os.ErrNotExist
	}
	c, err := Load([]string{"PROXY_API_KEY_FILE=/run/key", "DAYTONA_API_URL=http://api/api", "PREVIEWGATE_SECRET_FILE=/run/secret"}, read)
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.Secret != goodSecret || c.Daytona.APIKey != "super_secret_key" {
		t.Error("secrets from files were not read and trimmed")
	}
	for _, env := range [][]string{
		{"PROXY_API_KEY=x", "PROXY_API_KEY_FILE=/run/key"},
		{"PROXY_API_KEY_FILE=/run/missing"},
		{"PROXY_API_KEY_FILE=/run/empty"},
	} {
		env = append(env, "DAYTONA_API_URL=http://api/api", "PREVIEWGATE_SECRET="+goodSecret)
		if _, err := Load(env, read); !errors.Is(err, ErrInvalid) {
			t.Errorf("%v: err %v, want ErrInvalid", env, err)
		}
	}
}

func TestSecretsMustDiffer(t *testing.T) {
	env := []string{"PROXY_API_KEY=" + goodSecret, "DAYTONA_API_URL=http://api/api", "PREVIEWGATE_SECRET=" + goodSecret}
	if _, err := Load(env, noFiles); err == nil || !strings.Contains(err.Error(), "must differ") {
		t.Errorf("err %v", err)
	}
}

func TestRedisAndStaticRunners(t *testing.T) {
	env := append(base(), "REDIS_HOST=cache", "REDIS_PORT=6380", "REDIS_TLS=true",
		"PREVIEWGATE_STATIC_RUNNERS=r1=http://10.0.0.1:3003, r2=https://runner-2.example/")
	c, err := Load(env, noFiles)
	if err != nil {
		t.Fatal(err)
	}
	if c.Redis == nil || c.Redis.Addr != "cache:6380" || !c.Redis.TLS {
		t.Errorf("redis %+v", c.Redis)
	}
	if len(c.Runners.Static) != 2 || c.Runners.Static["r1"] != "http://10.0.0.1:3003" {
		t.Errorf("static runners %v", c.Runners.Static)
	}
	_, err = Load(append(base(), "PREVIEWGATE_STATIC_RUNNERS=r1=http://a:1,bad id=http://b,r1=http://c,r3=ftp://x,R1=http://d"), noFiles)
	for _, want := range []string{`runner id "bad id"`, "runner r1 is listed twice", "runner r3", "runners r1 and R1 differ only in case"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not mention %s: %v", want, err)
		}
	}
}

func TestEveryVariableHasADocumentedDefault(t *testing.T) {
	seen := map[string]bool{}
	for _, v := range Vars {
		if seen[v.Name] || v.Doc == "" {
			t.Errorf("%s: duplicate or undocumented", v.Name)
		}
		seen[v.Name] = true
	}
}

// A URL's password never shows: not in the start-up summary, not in a
// configuration error.
func TestURLPasswordsAreRedacted(t *testing.T) {
	env := append(base(), "DAYTONA_API_URL=http://proxy:s3cr3tpass@api:3000/api")
	c, err := Load(env, noFiles)
	if err != nil {
		t.Fatal(err)
	}
	if s := fmt.Sprint(c.Summary()...); strings.Contains(s, "s3cr3tpass") || !strings.Contains(s, "api:3000") {
		t.Errorf("summary %q shows the password or not the API", s)
	}
	_, err = Load(append(base(), "PREVIEWGATE_STATIC_RUNNERS=r1=http://u:s3cr3tpass@a:1,http://u:s3cr3tpass@b:2"), noFiles)
	if err == nil || strings.Contains(err.Error(), "s3cr3tpass") || !strings.Contains(err.Error(), "runner r1") {
		t.Errorf("error %v shows the password or not the runner", err)
	}
}

// PREVIEWGATE_DIRECT_RUNNER goes with routing direct, and is a runner id.
func TestDirectRunner(t *testing.T) {
	c, err := Load(append(base(), "PREVIEWGATE_ROUTING=direct", "PREVIEWGATE_DIRECT_RUNNER=r1"), noFiles)
	if err != nil || c.Decide.DirectRunner != "r1" {
		t.Fatalf("direct with r1: %v, %+v", err, c)
	}
	for _, env := range [][]string{{"PREVIEWGATE_DIRECT_RUNNER=r1"}, {"PREVIEWGATE_ROUTING=direct", "PREVIEWGATE_DIRECT_RUNNER=r 1"}} {
		if _, err := Load(append(base(), env...), noFiles); err == nil || !strings.Contains(err.Error(), "PREVIEWGATE_DIRECT_RUNNER") {
			t.Errorf("%v: err %v", env, err)
		}
	}
}

// Variables of Daytona's proxy for what the resolver does not do are named
// (not their values) in Config.Ignored when set, and "false" or empty ones
// are not.
func TestUnsupportedDaytonaVariablesAreReported(t *testing.T) {
	c, err := Load(append(base(), "PREVIEW_WARNING_ENABLED=true", "OIDC_CLIENT_SECRET=s3cr3t", "ENABLE_TLS=false", "COOKIE_DOMAIN="), noFiles)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(c.Ignored, "\n")
	if len(c.Ignored) != 2 || !strings.HasPrefix(c.Ignored[0], "PREVIEW_WARNING_ENABLED: ") || !strings.HasPrefix(c.Ignored[1], "OIDC_CLIENT_SECRET: ") {
		t.Errorf("ignored:\n%s", got)
	}
	if strings.Contains(got, "s3cr3t") {
		t.Error("a value reached the report")
	}
	if c, _ := Load(base(), noFiles); len(c.Ignored) != 0 {
		t.Errorf("nothing set, yet ignored %q", c.Ignored)
	}
}

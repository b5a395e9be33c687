package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/previewgate/previewgate/internal/stack"
)

// The README's access-log advice holds: with RequestPath dropped, Traefik's
// access log keeps a line for a request whose query held the preview token,
// and the token is nowhere in it (request headers are dropped by default).
func TestAccessLogAdviceKeepsTheQueryKeyOut(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "access.log")
	s := startStack(t, stack.Options{StaticRunners: true, ExtraStatic: func(m map[string]interface{}) {
		m["accessLog"] = map[string]interface{}{"filePath": logPath, "format": "json",
			"fields": map[string]interface{}{"names": map[string]interface{}{"RequestPath": "drop"}}}
	}})
	e := echo(t, s, s.Host(3000, "demo-private"), "/echo?DAYTONA_SANDBOX_AUTH_KEY="+privateToken+"&a=1", nil)
	if e.SandboxID != "demo-private" {
		t.Fatalf("reached %s", e.SandboxID)
	}
	var line map[string]interface{}
	var raw []byte
	deadline := time.Now().Add(10 * time.Second)
	for line == nil && time.Now().Before(deadline) {
		b, _ := os.ReadFile(logPath)
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			var l map[string]interface{}
			if json.Unmarshal(sc.Bytes(), &l) == nil && l["RequestHost"] == s.Host(3000, "demo-private") {
				line, raw = l, append([]byte(nil), sc.Bytes()...)
			}
		}
		if line == nil {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if line == nil {
		t.Fatal("no access-log line for the request")
	}
	if strings.Contains(string(raw), privateToken) {
		t.Errorf("the access log holds the preview token: %s", raw)
	}
	if _, ok := line["RequestPath"]; ok {
		t.Errorf("RequestPath was not dropped: %s", raw)
	}
}

package bench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The count is the newest dump's total: callgrind_control -d writes a
// numbered file per dump beside the earlier ones.
func TestNewestTotalReadsTheLatestDump(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "callgrind.out")
	old := time.Now().Add(-time.Minute)
	for name, body := range map[string]string{
		"callgrind.out.1": "events: Ir\nsummary: 111\ntotals: 111\n",
		"callgrind.out.2": "events: Ir\nfn=x\n0 5\ntotals: 2222\n",
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if name == "callgrind.out.1" {
			if err := os.Chtimes(path, old, old); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got, file, err := newestTotal(base); err != nil || got != 2222 || file != filepath.Join(dir, "callgrind.out.2") {
		t.Fatalf("newestTotal = %d, %q, %v; want 2222 from callgrind.out.2", got, file, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "callgrind.out.3"), []byte("events: Ir\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := newestTotal(base); err == nil || !strings.Contains(err.Error(), "no totals") {
		t.Errorf("a dump without totals: %v", err)
	}
	if _, _, err := newestTotal(filepath.Join(dir, "none")); err == nil {
		t.Error("no dump at all: no error")
	}
}

// Each count is shown against bare Traefik's for the same headers.
func TestWriteInstructionsShowsTheRatioToBare(t *testing.T) {
	var b strings.Builder
	WriteInstructions(&b, []Instructions{{Scenario: ScPublic, Requests: 10, PerRequest: 400, Bare: 300}})
	if !strings.Contains(b.String(), "| "+ScPublic) || !strings.Contains(b.String(), "0.750") {
		t.Errorf("table:\n%s", b.String())
	}
}

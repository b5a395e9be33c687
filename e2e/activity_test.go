package e2e

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/previewgate/previewgate/internal/stack"
)

// While a WebSocket stays open through the gateway (a terminal in use sends
// no new request), the sandbox's last activity is reported again and again,
// as Daytona's proxy does every 50 s (here every 300 ms), so that auto-stop
// does not stop it; once the WebSocket closed, no more.
func TestOpenWebSocketKeepsItsSandboxActive(t *testing.T) {
	s := startStack(t, stack.Options{StaticRunners: true,
		ResolverEnv: []string{"PREVIEWGATE_ACTIVITY_INTERVAL=100ms"},
		ExtraDynamic: func(d map[string]interface{}) {
			mw := d["http"].(map[string]interface{})["middlewares"].(map[string]interface{})
			mw["previewgate"].(map[string]interface{})["plugin"].(map[string]interface{})["previewgate"].(map[string]interface{})["activityRepeat"] = "300ms"
		}})
	const sandbox = "demo-public"
	activity := func() int64 { t.Helper(); return lastActivityCalls(t, s, sandbox) }
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+s.Web+"/ws", &websocket.DialOptions{Host: s.Host(3000, sandbox)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageText, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Read(ctx); err != nil {
		t.Fatal(err)
	}
	open := activity()
	eventually(t, 10*time.Second, "three last-activity updates while the WebSocket is open", func() error {
		if n := activity(); n < open+3 {
			return fmt.Errorf("%d so far", n-open)
		}
		return nil
	})
	c.Close(websocket.StatusNormalClosure, "")
	time.Sleep(time.Second) // a report in flight lands
	closed := activity()
	time.Sleep(time.Second)
	if n := activity(); n != closed {
		t.Errorf("%d last-activity updates after the WebSocket closed", n-closed)
	}
}

// lastActivityCalls counts the simulator's last-activity updates of sandbox.
func lastActivityCalls(t *testing.T, s *stack.Stack, sandbox string) int64 {
	t.Helper()
	var calls struct {
		BySandbox map[string]map[string]int64 `json:"bySandbox"`
	}
	simGet(t, s, "/_sim/calls", &calls)
	return calls.BySandbox["POST /sandbox/{id}/last-activity"][sandbox]
}

// A request with X-Daytona-Skip-Last-Activity-Update: true (a monitor's
// poll) makes no activity update, and its decision is not reused: the next
// plain request with the same credentials is decided again and counts.
func TestSkipActivityDecisionIsNotReused(t *testing.T) {
	s := startStack(t, stack.Options{StaticRunners: true,
		ResolverEnv: []string{"PREVIEWGATE_ACTIVITY_INTERVAL=100ms"}})
	const sandbox = "demo-private"
	host := s.Host(3000, sandbox)
	before := lastActivityCalls(t, s, sandbox)
	if resp, body := get(t, s, host, "/", http.Header{"X-Daytona-Preview-Token": {privateToken},
		"X-Daytona-Skip-Last-Activity-Update": {"true"}}); resp.StatusCode != http.StatusOK {
		t.Fatalf("skip request: %d %s", resp.StatusCode, body)
	}
	time.Sleep(300 * time.Millisecond) // past the debounce, and the skip request's update (none) lands
	if n := lastActivityCalls(t, s, sandbox); n != before {
		t.Fatalf("the skip request made %d last-activity updates", n-before)
	}
	if resp, body := get(t, s, host, "/", http.Header{"X-Daytona-Preview-Token": {privateToken}}); resp.StatusCode != http.StatusOK {
		t.Fatalf("plain request: %d %s", resp.StatusCode, body)
	}
	eventually(t, 5*time.Second, "the plain request's last-activity update", func() error {
		if n := lastActivityCalls(t, s, sandbox); n == before {
			return fmt.Errorf("none")
		}
		return nil
	})
}

package e2e

import (
	"context"
	"fmt"
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
	activity := func() int64 {
		t.Helper()
		var calls struct {
			BySandbox map[string]map[string]int64 `json:"bySandbox"`
		}
		simGet(t, s, "/_sim/calls", &calls)
		return calls.BySandbox["POST /sandbox/{id}/last-activity"][sandbox]
	}
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

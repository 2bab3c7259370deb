package dashboard

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rayo-dev/rayo/internal/gcs"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
)

// sendCode is send with the status code alone.
func sendCode(t *testing.T, method, u, token, body string) (int, string) {
	t.Helper()
	resp, b := send(t, method, u, token, "", body)
	return resp.StatusCode, b
}

func headClient(t *testing.T, g *gcs.Server) *rpc.Client {
	t.Helper()
	c, err := rpc.Dial(context.Background(), g.Addr(), testToken)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func kvPut(t *testing.T, c *rpc.Client, key, value string) {
	t.Helper()
	if err := c.Call(context.Background(), protocol.HeadKVPut, &protocol.KVPutRequest{Namespace: serveKVNamespace, Key: key, Value: []byte(value), Overwrite: true}, nil); err != nil {
		t.Fatal(err)
	}
}

func kvFound(t *testing.T, c *rpc.Client, key string) bool {
	t.Helper()
	var rep protocol.KVGetReply
	if err := c.Call(context.Background(), protocol.HeadKVGet, &protocol.KVKeyRequest{Namespace: serveKVNamespace, Key: key}, &rep); err != nil {
		t.Fatal(err)
	}
	return rep.Found
}

func kvValue(t *testing.T, c *rpc.Client, key string) string {
	t.Helper()
	var rep protocol.KVGetReply
	if err := c.Call(context.Background(), protocol.HeadKVGet, &protocol.KVKeyRequest{Namespace: serveKVNamespace, Key: key}, &rep); err != nil {
		t.Fatal(err)
	}
	return string(rep.Value)
}

// fakeController handles Serve requests as the controller does
// (serve/requests.go), answering with answer, until the test ends.
func fakeController(t *testing.T, c *rpc.Client, answer func(serveRequest) serveResult) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	del := func(key string) {
		_ = c.Call(ctx, protocol.HeadKVDelete, &protocol.KVKeyRequest{Namespace: serveKVNamespace, Key: key}, &protocol.KVDeleteReply{})
	}
	wg.Go(func() {
		for ctx.Err() == nil {
			var rep protocol.KVGetReply
			if c.Call(ctx, protocol.HeadKVGet, &protocol.KVKeyRequest{Namespace: serveKVNamespace, Key: serveRequestKey}, &rep) == nil && rep.Found {
				var req serveRequest
				_ = json.Unmarshal(rep.Value, &req)
				var claim protocol.KVPutReply
				err := c.Call(ctx, protocol.HeadKVPut, &protocol.KVPutRequest{Namespace: serveKVNamespace, Key: serveClaimPrefix + req.ID, Value: []byte("controller")}, &claim)
				switch {
				case err != nil:
				case !claim.Added: // withdrawn
					del(serveRequestKey)
				default:
					b, _ := json.Marshal(answer(req))
					del(serveRequestKey)
					_ = c.Call(ctx, protocol.HeadKVPut, &protocol.KVPutRequest{Namespace: serveKVNamespace, Key: serveResultPrefix + req.ID, Value: b, Overwrite: true}, nil)
					del(serveClaimPrefix + req.ID)
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
}

func TestServeOpsNeedTheToken(t *testing.T) {
	s, _ := startHead(t)
	base := "http://" + s.Addr()
	for _, c := range []struct{ method, path string }{
		{"PUT", "/api/serve/applications/"}, {"DELETE", "/api/serve/applications/"}, {"GET", "/api/serve/config"},
	} {
		if code, body := sendCode(t, c.method, base+c.path, "", "applications: []"); code != http.StatusUnauthorized {
			t.Errorf("%s %s without the token: %d %s", c.method, c.path, code, body)
		}
	}
}

func TestServeOpsWhenServeIsNotRunning(t *testing.T) {
	s, g := startHead(t)
	base := "http://" + s.Addr()
	if code, body := sendCode(t, "PUT", base+"/api/serve/applications/", testToken, "applications: []"); code != http.StatusServiceUnavailable || !strings.Contains(body, "not running") {
		t.Errorf("deploy without Serve: %d %s", code, body)
	}
	if code, body := sendCode(t, "DELETE", base+"/api/serve/applications/", testToken, ""); code != http.StatusOK || !strings.Contains(body, `"running": false`) {
		t.Errorf("shutdown without Serve: %d %s", code, body)
	}
	if code, body := sendCode(t, "GET", base+"/api/serve/config", testToken, ""); code != http.StatusNotFound {
		t.Errorf("config without one: %d %s", code, body)
	}
	kvPut(t, headClient(t, g), serveConfigKey, "applications: []\n")
	if code, body := sendCode(t, "GET", base+"/api/serve/config", testToken, ""); code != http.StatusOK || body != "applications: []\n" {
		t.Errorf("config: %d %q", code, body)
	}
	if kvFound(t, headClient(t, g), serveRequestKey) {
		t.Error("a request was left although Serve is not running")
	}
}

func TestServeOpsBadBody(t *testing.T) {
	s, g := startHead(t)
	kvPut(t, headClient(t, g), serveStatusKey, `{"applications":[]}`)
	base := "http://" + s.Addr()
	if code, body := sendCode(t, "PUT", base+"/api/serve/applications/", testToken, "  \n"); code != http.StatusBadRequest || !strings.Contains(body, "empty") {
		t.Errorf("empty config: %d %s", code, body)
	}
	if code, body := sendCode(t, "PUT", base+"/api/serve/applications/", testToken, strings.Repeat("x", maxServeConfig+1)); code != http.StatusRequestEntityTooLarge {
		t.Errorf("huge config: %d %s", code, body)
	}
}

func TestServeOpsAnsweredByTheController(t *testing.T) {
	s, g := startHead(t)
	c := headClient(t, g)
	kvPut(t, c, serveStatusKey, `{"applications":[]}`)
	fakeController(t, c, func(req serveRequest) serveResult {
		if req.Op == "deploy" && strings.Contains(req.Config, "bad") {
			return serveResult{ID: req.ID, Error: "applications[0].import_pth: unknown field", Invalid: true}
		}
		return serveResult{ID: req.ID, OK: true}
	})
	base := "http://" + s.Addr()
	if code, body := sendCode(t, "PUT", base+"/api/serve/applications/", testToken, "applications: []"); code != http.StatusOK {
		t.Errorf("deploy: %d %s", code, body)
	}
	if code, body := sendCode(t, "PUT", base+"/api/serve/applications/", testToken, "bad: 1"); code != http.StatusBadRequest || !strings.Contains(body, "import_pth") {
		t.Errorf("bad deploy: %d %s", code, body)
	}
	if code, body := sendCode(t, "DELETE", base+"/api/serve/applications", testToken, ""); code != http.StatusOK || !strings.Contains(body, `"running": true`) {
		t.Errorf("shutdown: %d %s", code, body)
	}
}

func TestServeOpsControllerSilent(t *testing.T) {
	s, g := startHead(t)
	c := headClient(t, g)
	kvPut(t, c, serveStatusKey, `{"applications":[]}`)
	s.serveWait = 300 * time.Millisecond
	base := "http://" + s.Addr()
	if code, body := sendCode(t, "PUT", base+"/api/serve/applications/", testToken, "applications: []"); code != http.StatusGatewayTimeout || !strings.Contains(body, "nothing was done") {
		t.Errorf("silent controller: %d %s", code, body)
	}
	if kvFound(t, c, serveRequestKey) {
		t.Error("the unanswered request was not withdrawn")
	}
	// Its claim, the dashboard's, keeps a controller that read the
	// request before it was deleted from running it.
	keys := kvKeys(t, c, serveClaimPrefix)
	if len(keys) != 1 || kvValue(t, c, keys[0]) != claimByDashboard {
		t.Errorf("claims after the withdrawal: %v", keys)
	}
	// A pending request: the next one is refused.
	kvPut(t, c, serveRequestKey, `{"id":"ab","op":"shutdown"}`)
	if code, body := sendCode(t, "DELETE", base+"/api/serve/applications/", testToken, ""); code != http.StatusConflict {
		t.Errorf("with a request pending: %d %s", code, body)
	}
}

// A controller that claimed the request but takes longer than the wait:
// 202, the request is left to it, and it is free for the next one once
// it answered (its unread answer is for the controller to sweep).
func TestServeOpsSlowController(t *testing.T) {
	s, g := startHead(t)
	c := headClient(t, g)
	kvPut(t, c, serveStatusKey, `{"applications":[]}`)
	s.serveWait = 300 * time.Millisecond
	release := make(chan struct{})
	fakeController(t, c, func(req serveRequest) serveResult {
		<-release
		return serveResult{ID: req.ID, OK: true}
	})
	var once sync.Once
	open := func() { once.Do(func() { close(release) }) }
	t.Cleanup(open) // before fakeController's cleanup waits for it
	base := "http://" + s.Addr()
	code, body := sendCode(t, "DELETE", base+"/api/serve/applications/", testToken, "")
	if code != http.StatusAccepted || !strings.Contains(body, "still working") || !strings.Contains(body, "rayo serve status") || !strings.Contains(body, `"pending": true`) {
		t.Fatalf("slow controller: %d %s", code, body)
	}
	if !kvFound(t, c, serveRequestKey) {
		t.Error("the request the controller is working on was withdrawn")
	}
	open()
	deadline := time.Now().Add(30 * time.Second)
	for kvFound(t, c, serveRequestKey) || len(kvKeys(t, c, serveClaimPrefix)) != 0 || len(kvKeys(t, c, serveResultPrefix)) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the controller did not finish: keys %v", kvKeys(t, c, "serve/"))
		}
		time.Sleep(20 * time.Millisecond) // polling the fake controller's keys
	}
	if code, body := sendCode(t, "DELETE", base+"/api/serve/applications/", testToken, ""); code != http.StatusOK {
		t.Errorf("the next request: %d %s", code, body)
	}
}

func kvKeys(t *testing.T, c *rpc.Client, prefix string) []string {
	t.Helper()
	var rep protocol.KVKeysReply
	if err := c.Call(context.Background(), protocol.HeadKVKeys, &protocol.KVKeysRequest{Namespace: serveKVNamespace, Prefix: prefix}, &rep); err != nil {
		t.Fatal(err)
	}
	return rep.Keys
}

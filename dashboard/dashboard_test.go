package dashboard

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/rayo-dev/rayo/internal/gcs"
	"github.com/rayo-dev/rayo/internal/gcs/gcstest"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
	"github.com/rayo-dev/rayo/internal/sched"
)

const testToken = "s3cret-token"

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// startHead starts a real head and a dashboard in front of it, and
// registers two nodes with it.
func startHead(t *testing.T) (*Server, *gcs.Server) {
	t.Helper()
	g := gcstest.Start(t, testToken)
	c, err := rpc.Dial(context.Background(), g.Addr(), testToken)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	for _, n := range []*protocol.NodeInfo{
		{NodeID: "aaaa", Addr: "127.0.0.1:1", Total: sched.Resources{"CPU": 2 * sched.Unit}, IsHead: true},
		{NodeID: "bbbb", Addr: "127.0.0.1:2", Total: sched.Resources{"CPU": 4 * sched.Unit}, Labels: map[string]string{"zone": "b"}},
	} {
		if err := c.Call(context.Background(), protocol.HeadRegisterNode, n, nil); err != nil {
			t.Fatal(err)
		}
	}
	s, err := Start(Config{Listen: "127.0.0.1:0", Token: testToken, HeadAddr: g.Addr(), SessionDir: t.TempDir(), Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s, g
}

func get(t *testing.T, client *http.Client, u, token string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestAPIRefusesRequestsWithoutTheToken(t *testing.T) {
	s, _ := startHead(t)
	base := "http://" + s.Addr()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tok := range []string{"", "wrong"} {
		resp, body := get(t, noRedirect, base+"/api/v0/nodes", tok)
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "token") {
			t.Errorf("token %q: %d %s, want 401", tok, resp.StatusCode, body)
		}
	}
	// A page without the token goes to the login page.
	resp, _ := get(t, noRedirect, base+"/some/page", "")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Errorf("page without token: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// A wrong ?token is refused too.
	resp, _ = get(t, noRedirect, base+"/api/v0/nodes?token=wrong", "")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong ?token: %d", resp.StatusCode)
	}
}

func TestLoginSetsACookie(t *testing.T) {
	s, _ := startHead(t)
	base := "http://" + s.Addr()
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	// A wrong token: the form again, 401.
	resp, err := client.PostForm(base+"/login", url.Values{"token": {"nope"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("login with a wrong token: %d", resp.StatusCode)
	}
	resp, err = client.PostForm(base+"/login", url.Values{"token": {testToken}, "next": {"/api/v0/nodes"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "bbbb") {
		t.Fatalf("after login, redirected to the nodes: %d %s", resp.StatusCode, b)
	}
	// The token once in the URL sets the cookie as well, and is dropped
	// from the address.
	jar2, _ := cookiejar.New(nil)
	client2 := &http.Client{Jar: jar2}
	resp, body := get(t, client2, base+"/api/v0/nodes?token="+testToken+"&limit=1", "")
	if resp.StatusCode != http.StatusOK || strings.Contains(resp.Request.URL.RawQuery, "token") || !strings.Contains(body, `"truncated": true`) {
		t.Fatalf("?token: %d %s (%s)", resp.StatusCode, body, resp.Request.URL)
	}
	resp, _ = get(t, client2, base+"/api/v0/actors", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the cookie did not authenticate: %d", resp.StatusCode)
	}
	// The cookie is for reads: a request that changes something needs the
	// header (no cross-site request forgery of a job submission).
	resp, err = client2.Post(base+"/api/jobs/", "application/json", strings.NewReader(`{"entrypoint":["true"]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a POST with the cookie alone: %d, want 401", resp.StatusCode)
	}
}

func TestListFiltersAndLimits(t *testing.T) {
	s, _ := startHead(t)
	base := "http://" + s.Addr()
	list := func(q string) ListReply {
		t.Helper()
		resp, body := get(t, http.DefaultClient, base+"/api/v0/nodes"+q, testToken)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", q, resp.StatusCode, body)
		}
		var r ListReply
		if err := json.Unmarshal([]byte(body), &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := list(""); r.Total != 2 || len(r.Result) != 2 || r.Result[0]["node_id"] != "aaaa" {
		t.Fatalf("all nodes: %+v", r)
	}
	if r := list("?filter=is_head_node=true"); r.Total != 1 || r.Result[0]["node_id"] != "aaaa" {
		t.Fatalf("filter is_head_node=true: %+v", r)
	}
	if r := list("?filter=node_id!=aaaa&filter=state=alive"); r.Total != 1 || r.Result[0]["node_id"] != "bbbb" {
		t.Fatalf("filter node_id!=aaaa: %+v", r)
	}
	if r := list("?limit=1"); r.Total != 2 || len(r.Result) != 1 || !r.Truncated {
		t.Fatalf("limit 1: %+v", r)
	}
	for _, bad := range []string{"?limit=0", "?limit=x", "?filter=novalue"} {
		if resp, _ := get(t, http.DefaultClient, base+"/api/v0/nodes"+bad, testToken); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", bad, resp.StatusCode)
		}
	}
	resp, body := get(t, http.DefaultClient, base+"/api/v0/nodes/bbbb", testToken)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"zone": "b"`) {
		t.Fatalf("one node: %d %s", resp.StatusCode, body)
	}
	if resp, _ := get(t, http.DefaultClient, base+"/api/v0/nodes/nope", testToken); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown node: %d", resp.StatusCode)
	}
}

func TestHeadDownIs503(t *testing.T) {
	s, g := startHead(t)
	g.Stop()
	resp, body := get(t, http.DefaultClient, "http://"+s.Addr()+"/api/v0/nodes", testToken)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("head down: %d %s", resp.StatusCode, body)
	}
}

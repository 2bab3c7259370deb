package dashboard

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
)

func TestUIServesTheAppAndItsModules(t *testing.T) {
	s, _ := startHead(t)
	base := "http://" + s.Addr()
	resp, body := get(t, http.DefaultClient, base+"/", testToken)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `src="/ui/js/app.js"`) {
		t.Fatalf("GET /: %d %.200s", resp.StatusCode, body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("CSP %q", csp)
	}
	// Every module the app imports is served, as JavaScript.
	importRe := regexp.MustCompile(`from '(\./[^']+)'`)
	seen := map[string]bool{}
	queue := []string{"/ui/js/app.js"}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if seen[p] {
			continue
		}
		seen[p] = true
		resp, body := get(t, http.DefaultClient, base+p, testToken)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") {
			t.Fatalf("%s: %d %s", p, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		dir := p[:strings.LastIndex(p, "/")]
		for _, m := range importRe.FindAllStringSubmatch(body, -1) {
			rel := m[1]
			d := dir
			for strings.HasPrefix(rel, "../") {
				d, rel = d[:strings.LastIndex(d, "/")], rel[3:]
			}
			queue = append(queue, d+"/"+strings.TrimPrefix(rel, "./"))
		}
	}
	if len(seen) < 5 {
		t.Fatalf("only %d modules reached: %v", len(seen), seen)
	}
	for _, p := range []string{"/ui/style.css", "/ui/favicon.svg"} {
		if resp, _ := get(t, http.DefaultClient, base+p, testToken); resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
	}
	// A validator answers 304.
	req, _ := http.NewRequest(http.MethodGet, base+"/ui/style.css", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	r1, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r1.Body.Close()
	req.Header.Set("If-None-Match", r1.Header.Get("ETag"))
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: %d, want 304", r2.StatusCode)
	}
}

// The UI tells an endpoint this head lacks (404, not JSON) from a
// record that does not exist (404 with a JSON error); unknown paths must
// not fall through to the app.
func TestUnknownPathsAreNotTheApp(t *testing.T) {
	s, _ := startHead(t)
	base := "http://" + s.Addr()
	for _, p := range []string{"/api/v0/no_such_endpoint", "/ui/nope.js", "/other"} {
		resp, body := get(t, http.DefaultClient, base+p, testToken)
		if resp.StatusCode != http.StatusNotFound || strings.Contains(resp.Header.Get("Content-Type"), "json") {
			t.Errorf("%s: %d %s %.80s; want a plain 404", p, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	}
	resp, _ := get(t, http.DefaultClient, base+"/api/v0/nodes/nope", testToken)
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(resp.Header.Get("Content-Type"), "json") {
		t.Errorf("unknown node: %d %s; want a JSON 404", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// Every page in the navigation is a route of the app, and every route
// but logs (opened from a node, actor or task) is in the navigation.
func TestUINavigationMatchesTheRoutes(t *testing.T) {
	index, err := uiFiles.ReadFile("ui/index.html")
	if err != nil {
		t.Fatal(err)
	}
	app, err := uiFiles.ReadFile("ui/js/app.js")
	if err != nil {
		t.Fatal(err)
	}
	nav := map[string]bool{}
	for _, m := range regexp.MustCompile(`href="#/([a-z-]+)" data-page="([a-z-]+)"`).FindAllStringSubmatch(string(index), -1) {
		if m[1] != m[2] {
			t.Errorf("nav link #/%s is marked data-page %q", m[1], m[2])
		}
		nav[m[1]] = true
	}
	body := string(app)
	routes := map[string]bool{}
	table := body[strings.Index(body, "const pages = {"):]
	table = table[:strings.Index(table, "};")]
	for _, m := range regexp.MustCompile(`(?m)^\s+'?([a-z-]+)'?: \{`).FindAllStringSubmatch(table, -1) {
		routes[m[1]] = true
	}
	for p := range nav {
		if !routes[p] {
			t.Errorf("nav links #/%s, which app.js does not route", p)
		}
	}
	for p := range routes {
		if !nav[p] && p != "logs" {
			t.Errorf("app.js routes %s, which the nav does not link", p)
		}
	}
	if !nav["serve"] {
		t.Errorf("no Serve page in the nav: %v", nav)
	}
}

package dashboard

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rayo-dev/rayo/internal/browsertest"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
)

// serveXSS is an application and deployment name that would add elements
// (and run script, were the CSP to allow it) if the page put it into the
// DOM as HTML.
const serveXSS = `shop<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>`

// serveStatus is a status as the Serve controller publishes it (the JSON
// of serve.Status, serve/controller.go), with serveXSS for names.
func serveStatus(t *testing.T) []byte {
	b, err := json.Marshal(map[string]any{
		"applications": []any{map[string]any{
			"name": serveXSS, "route_prefix": "/shop", "status": "DEPLOYING",
			"deployments": []any{map[string]any{
				"name": serveXSS, "status": "UPDATING", "replicas_wanted": 2, "replicas_running": 1, "version": "v7",
				"autoscaling": "ongoing 3.0 per replica > target 2: scale to 2",
				"replicas": []any{
					map[string]any{"replica_id": "SERVE_REPLICA::shop#Cart#a1", "state": "RUNNING", "version": "v7"},
					map[string]any{"replica_id": "SERVE_REPLICA::shop#Cart#b2", "state": "STARTING", "version": "v7"},
				},
			}},
		}},
		"replicas_stopping": 3,
		"proxies":           map[string]string{"aaaa": "127.0.0.1:8000"}, // a node startHead registers
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The Serve page in a real browser, against a head without Serve and then
// with a published status whose names are markup: the empty state, then
// the application, its deployment and replicas, the draining replicas and
// the proxies, every name as text; a proxy's node links its page.
func TestServePageInBrowser(t *testing.T) {
	chrome := browsertest.FindChromium(t)
	s, g := startHead(t)
	base := "http://" + s.Addr()
	b := browsertest.Start(t, chrome)
	browsertest.WatchConsole(t, b)
	const d = 20 * time.Second
	textOf := func(sel string) string {
		return `(document.querySelector(` + browsertest.JS(sel) + `) || {}).textContent || ''`
	}

	browsertest.Step(t, b, "open with ?token", d, chromedp.Navigate(base+"/?token="+testToken),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="overview-title"]`)))
	browsertest.Step(t, b, "the Serve link", d, chromedp.Click(chromedp.CSS(`[data-testid="nav-serve"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="serve-title"]`)))
	browsertest.WaitJS(t, b, "no applications, no proxies", d, textOf(`[data-testid=serve-empty]`)+` === 'No Serve applications.' && `+
		textOf(`[data-testid=serve-proxies-grid] tbody`)+` === 'No proxies running.' && !document.querySelector('[data-testid=serve-stopping]')`)

	c, err := rpc.Dial(context.Background(), g.Addr(), testToken)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Call(context.Background(), protocol.HeadKVPut, &protocol.KVPutRequest{
		Namespace: serveKVNamespace, Key: serveStatusKey, Value: serveStatus(t), Overwrite: true}, nil); err != nil {
		t.Fatal(err)
	}
	// The page picks the status up on its next refresh.
	browsertest.WaitJS(t, b, "the application, named as text", d, textOf(`[data-testid=serve-app-name]`)+` === `+browsertest.JS(serveXSS)+
		` && `+textOf(`[data-testid=serve-app] h2`)+`.includes('DEPLOYING') && `+textOf(`[data-testid=serve-app] h2`)+`.includes('/shop')`)
	browsertest.WaitJS(t, b, "its deployment", d, browsertest.RowWhere("serve-deployments-grid", map[string]string{
		"name":             `t === ` + browsertest.JS(serveXSS),
		"status":           `t === 'UPDATING'`,
		"replicas_running": `t === '1 / 2'`,
		"version":          `t === 'v7'`,
		"autoscaling":      `t.includes('scale to 2')`,
		"replicas":         `t.includes('SERVE_REPLICA::shop#Cart#a1') && t.includes('RUNNING') && t.includes('SERVE_REPLICA::shop#Cart#b2') && t.includes('STARTING')`,
	}))
	browsertest.WaitJS(t, b, "the replicas stopping and the proxy", d, textOf(`[data-testid=serve-stopping]`)+`.startsWith('3 replicas stopping')`+
		` && `+browsertest.RowWhere("serve-proxies-grid", map[string]string{"address": `t === '127.0.0.1:8000'`}))
	browsertest.WaitJS(t, b, "no markup from the names", d,
		`!document.querySelector('#view img, #view script') && window.__xss === undefined`)
	// The proxy's node links its details page.
	browsertest.WaitJS(t, b, "the proxy's node clicked", d, browsertest.ClickIn(
		browsertest.RowWhere("serve-proxies-grid", map[string]string{"address": `t === '127.0.0.1:8000'`}), "[data-col=node_id] a"))
	browsertest.WaitJS(t, b, "the node's details", d, textOf(`[data-testid=node-kv]`)+`.includes('127.0.0.1:1')`)
}

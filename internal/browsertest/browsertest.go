// Package browsertest drives headless Chromium (through chromedp) for
// the dashboard's browser tests: finding the browser, starting it, and
// waiting on the page with deadlines instead of sleeps.
package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// FindChromium returns the browser's path. Without one the test fails
// when CI is set and skips otherwise.
func FindChromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no chromium on PATH (install it: apt-get install -y chromium)"
	if os.Getenv("CI") != "" {
		t.Fatal(msg + "; CI is set, so this is a failure")
	}
	t.Skip(msg)
	return ""
}

// Start starts headless Chromium at path and returns the context of its
// tab; a cleanup closes the browser.
func Start(t testing.TB, path string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1440, 1000))
	allocCtx, allocCancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		// Close the browser gracefully, then for sure.
		closeCtx, closeCancel := context.WithTimeout(ctx, 10*time.Second)
		_ = chromedp.Cancel(closeCtx)
		closeCancel()
		cancel()
		allocCancel()
	})
	// The first run starts the browser: no deadline on this context.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	return ctx
}

// Step runs actions with a deadline; on failure it fails the test with
// what the page shows.
func Step(t testing.TB, ctx context.Context, what string, d time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		t.Fatalf("%s: %v\n%s", what, err, PageText(ctx))
	}
}

// WaitJS polls a JavaScript condition (every 100 ms) until it holds, for
// at most d.
func WaitJS(t testing.TB, ctx context.Context, what string, d time.Duration, cond string) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, d+5*time.Second)
	defer cancel()
	_, err := chromedp.Run(sctx, chromedp.Poll[bool]("!!("+cond+")",
		chromedp.WithPollingTimeout(d), chromedp.WithPollingInterval(100*time.Millisecond)))
	if err != nil {
		t.Fatalf("waiting for %s: %v\n%s", what, err, PageText(ctx))
	}
}

// PageText is the page's address and visible text, for failure messages.
func PageText(ctx context.Context) string {
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(sctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText`))
	if err != nil {
		return "(page unreadable: " + err.Error() + ")"
	}
	if len(s) > 4000 {
		s = s[:4000] + "…"
	}
	return "page: " + s
}

// FirstContentfulPaint waits for the page's first-contentful-paint entry
// and returns its time (ms after the navigation started).
func FirstContentfulPaint(ctx context.Context, d time.Duration) (float64, error) {
	sctx, cancel := context.WithTimeout(ctx, d+5*time.Second)
	defer cancel()
	return chromedp.Run(sctx, chromedp.Poll[float64](
		`(performance.getEntriesByType('paint').find((e) => e.name === 'first-contentful-paint') || {}).startTime`,
		chromedp.WithPollingTimeout(d)))
}

// JS quotes a Go string as a JavaScript literal.
func JS(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// RowWhere is a JavaScript expression: the first row of the table with
// data-testid testid whose cells (by data-col) pass every check, a
// JavaScript predicate on the cell's text t.
func RowWhere(testid string, checks map[string]string) string {
	var conds []string
	for col, pred := range checks {
		conds = append(conds, fmt.Sprintf("((t) => %s)((r.querySelector('[data-col=%s]') || {}).textContent || '')", pred, JS(col)))
	}
	return fmt.Sprintf("[...document.querySelectorAll('[data-testid=%s] tbody tr')].find((r) => %s)",
		JS(testid), strings.Join(conds, " && "))
}

// ClickIn is a WaitJS expression that clicks the element sel inside the
// row rowExpr (see RowWhere) once the row is there: pages re-render their
// tables as they refresh, so the row is looked up at the moment of the
// click.
func ClickIn(rowExpr, sel string) string {
	return fmt.Sprintf("(() => { const r = %s; const a = r && r.querySelector(%s); if (!a) return false; a.click(); return true; })()",
		rowExpr, JS(sel))
}

// WatchConsole records, from now until the test ends, the page's uncaught
// exceptions and console errors (failed requests excepted: the pages are
// tested against missing endpoints and an unreachable head on purpose);
// a cleanup fails the test if there were any.
func WatchConsole(t testing.TB, ctx context.Context) {
	t.Helper()
	wctx, cancel := context.WithCancel(ctx)
	messages := chromedp.Console(wctx)
	var (
		mu       sync.Mutex
		problems []string
		wg       sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() || (m.Type == chromedp.ConsoleError && m.Source != "network") {
				mu.Lock()
				problems = append(problems, fmt.Sprintf("%s (%s:%d)", m, m.URL, m.Line))
				mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		for _, p := range problems {
			t.Errorf("browser console: %s", p)
		}
	})
}

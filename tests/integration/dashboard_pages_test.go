package integration_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/internal/browsertest"
	"github.com/rayo-dev/rayo/internal/testcluster"
)

// xssProbe is a task's error message that would run script if a page put
// it into the DOM as HTML.
const xssProbe = `boom <img src=x onerror="window.__xss=1">`

// dashXSS prints a line (to its worker's log), then panics with the probe.
var dashXSS = rayo.Register[int]("itest.dashXSS", func() int {
	fmt.Println("dashXSS ran: this line is in its worker's log")
	panic(xssProbe)
})

// The pages fed by the state API's tasks, objects and workers, the jobs
// API and the logs API, in a real browser against a real cluster whose
// head keeps few task records (so that lists warn of dropped ones).
func TestDashboardPagesInBrowser(t *testing.T) {
	chrome := browsertest.FindChromium(t)
	c := testcluster.Start(t, testcluster.NodeSpec{CPUs: 2, ExtraArgs: []string{"--dashboard-port", "0", "--head-max-task-records", "20"}},
		testcluster.NodeSpec{CPUs: 2})
	connect(t, c)
	ctx := withTimeout(t, 3*time.Minute)
	base := dashboardURL(t, c)

	// 30 tasks for a budget of 20 records; the last one panics.
	refs := make([]rayo.ObjectRef[int], 30)
	for i := range refs {
		refs[i] = inc.Remote(i)
	}
	if _, err := rayo.GetAll(ctx, refs); err != nil {
		t.Fatal(err)
	}
	if _, err := dashXSS.Remote().Get(ctx); err == nil {
		t.Fatal("dashXSS did not fail")
	}
	stored, err := rayo.Put(ctx, make([]byte, 2<<20)) // an object in a node's store
	if err != nil {
		t.Fatal(err)
	}
	defer runtime.KeepAlive(stored)
	// A submitted job that prints and succeeds.
	body, _ := json.Marshal(map[string]any{"entrypoint": []string{"sh", "-c", "echo epoch 2 loss 0.25"}})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/jobs/", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+c.Token())
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var job struct {
		SubmissionID string `json:"submission_id"`
	}
	err = json.NewDecoder(resp.Body).Decode(&job)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || job.SubmissionID == "" {
		t.Fatalf("submitting a job: %d %v %+v", resp.StatusCode, err, job)
	}

	b := browsertest.Start(t, chrome)
	browsertest.WatchConsole(t, b)
	const d = 30 * time.Second
	cell := func(sel string) string {
		return `(document.querySelector(` + browsertest.JS(sel) + `) || {}).textContent || ''`
	}
	// The token once in the address logs in.
	browsertest.Step(t, b, "open with ?token", d, chromedp.Navigate(base+"/?token="+c.Token()),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="overview-title"]`)))

	// Tasks: the list warns of the dropped records; the filter finds the
	// failed task, whose error shows as text.
	browsertest.Step(t, b, "tasks", d, chromedp.Navigate(base+"/#/tasks"), chromedp.WaitVisible(chromedp.ID("tasks-filter")))
	browsertest.WaitJS(t, b, "the dropped-records warning", d, cell(`#tasks-warnings`)+`.includes('dropped')`)
	browsertest.Step(t, b, "filter", d, chromedp.SendKeys(chromedp.ID("tasks-filter"), "name=itest.dashXSS"),
		chromedp.Click(chromedp.CSS(`[data-testid="tasks-filter-apply"]`)))
	failed := browsertest.RowWhere("tasks-grid", map[string]string{"state": `t === 'FAILED'`,
		"error_message": `t.includes(` + browsertest.JS(xssProbe) + `)`})
	browsertest.WaitJS(t, b, "only the failed task, its error shown as text", d,
		`document.querySelectorAll('[data-testid=tasks-row]').length === 1 && `+failed)
	// Its details: message, the panic's stack, and its worker's log.
	browsertest.WaitJS(t, b, "the failed task clicked", d, browsertest.ClickIn(failed, "[data-col=task_id] a"))
	browsertest.Step(t, b, "task details", d, chromedp.WaitVisible(chromedp.ID("task-error-stack")))
	browsertest.WaitJS(t, b, "the error and stack, nothing run", d, cell(`#task-error-message`)+`.includes(`+browsertest.JS(xssProbe)+
		`) && `+cell(`#task-error-stack`)+`.includes('goroutine') && !document.querySelector('#view img') && window.__xss === undefined`)
	browsertest.Step(t, b, "task logs", d, chromedp.Click(chromedp.CSS(`[data-testid="task-logs-link"]`)))
	browsertest.WaitJS(t, b, "the worker's log, with the task's line", d, cell(`#log-text`)+`.includes('dashXSS ran')`)

	// Jobs: the submitted job and its log.
	browsertest.Step(t, b, "jobs", d, chromedp.Navigate(base+"/#/jobs"))
	browsertest.WaitJS(t, b, "the job SUCCEEDED", d, browsertest.RowWhere("submitted-jobs-grid",
		map[string]string{"status": `t === 'SUCCEEDED'`, "entrypoint": `t === 'sh -c echo epoch 2 loss 0.25'`}))
	browsertest.WaitJS(t, b, "the job's logs link clicked", d, browsertest.ClickIn(
		fmt.Sprintf(`document.querySelector(%s)`, browsertest.JS(fmt.Sprintf(`tr[data-id=%s]`, browsertest.JS(job.SubmissionID)))), "[data-col=logs] a"))
	browsertest.WaitJS(t, b, "the job's log", d, cell(`#job-logs`)+`.includes('epoch 2 loss 0.25')`)

	// Objects and memory: the stored object on its node.
	browsertest.Step(t, b, "objects", d, chromedp.Navigate(base+"/#/objects"))
	browsertest.WaitJS(t, b, "an object in a node's store", d, browsertest.RowWhere("objects-by-node-grid",
		map[string]string{"count": `parseInt(t) >= 1`}))

	// Nodes, with their workers.
	browsertest.Step(t, b, "nodes", d, chromedp.Navigate(base+"/#/nodes"))
	browsertest.WaitJS(t, b, "nodes and workers", d, `document.querySelectorAll('[data-testid=nodes-row]').length === 2 && `+
		`document.querySelectorAll('[data-testid=workers-row]').length >= 1`)

	// Log out: the session (whose cookie scripts cannot read) ends on the
	// head, and the app is behind the login page again.
	browsertest.WaitJS(t, b, "the session cookie hidden from scripts", d, `document.cookie === ''`)
	browsertest.Step(t, b, "log out", d, chromedp.Click(chromedp.CSS(`[data-testid="logout"]`)), chromedp.WaitVisible(chromedp.ID("token")))
	browsertest.Step(t, b, "the app after logout", d, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("token")))
}

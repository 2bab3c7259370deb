package dashboard

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rayo-dev/rayo/internal/browsertest"
)

// The pages that read endpoints other engineers are building (tasks,
// objects, workers, submitted jobs, logs) are checked here in the browser
// against fixtures of the agreed contract, served in front of a real
// dashboard and head. The fixtures go through this package's own
// filtering and summaries. The test in tests/integration checks the same
// pages against a real cluster.

// xssProbe is an error message that would run script if the page put it
// into the DOM as HTML.
const xssProbe = `boom <img src=x onerror="window.__xss=1">`

var fixtureTasks = []Row{
	{"task_id": "t-ok", "attempt": 0, "name": "square", "type": "NORMAL_TASK", "state": "FINISHED", "job_id": "01",
		"node_id": "aaaa", "worker_id": "w1", "worker_pid": 4321, "creation_time_ms": 1, "start_time_ms": 2, "end_time_ms": 30},
	{"task_id": "t-bad", "attempt": 1, "name": "fail", "type": "NORMAL_TASK", "state": "FAILED", "job_id": "01",
		"node_id": "aaaa", "worker_id": "w1", "worker_pid": 4321, "error_type": "TASK_FAILED", "error_message": xssProbe,
		"error_stack": "main.fail()\n\t/src/main.go:12", "creation_time_ms": 1, "start_time_ms": 2, "end_time_ms": 40},
}

// contractFront serves the fixtures and passes every other request to
// the dashboard. While down is set, the fixtures answer 503 as the real
// endpoints do when the head is unreachable.
func contractFront(t *testing.T, s *Server, down *atomic.Bool) *httptest.Server {
	target, _ := url.Parse("http://" + s.Addr())
	mux := http.NewServeMux()
	mux.Handle("/", httputil.NewSingleHostReverseProxy(target))
	fixture := func(pattern string, h http.HandlerFunc) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			if down.Load() {
				writeError(w, http.StatusServiceUnavailable, errHeadDown.Error())
				return
			}
			h(w, r)
		})
	}
	rows := func(rs ...Row) func(*http.Request) ([]Row, []string, error) {
		return func(*http.Request) ([]Row, []string, error) { return rs, nil, nil }
	}
	fixture("GET /api/v0/tasks", func(w http.ResponseWriter, r *http.Request) {
		s.serveList("task_id", func(*http.Request) ([]Row, []string, error) {
			return fixtureTasks, []string{"12 task events were dropped"}, nil
		})(w, r)
	})
	fixture("GET /api/v0/tasks/{id}", func(w http.ResponseWriter, r *http.Request) {
		for _, row := range fixtureTasks {
			if row["task_id"] == r.PathValue("id") {
				writeJSON(w, http.StatusOK, row)
				return
			}
		}
		writeError(w, http.StatusNotFound, "no such task")
	})
	fixture("GET /api/v0/summary/tasks", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, summarize(fixtureTasks, "name", "state"))
	})
	fixture("GET /api/v0/objects", s.serveList("object_id", rows(
		Row{"object_id": "o1", "size_bytes": 3 << 20, "node_id": "aaaa", "owner_address": "127.0.0.1:9", "reference_type": "LOCAL_REFERENCE", "spilled": false},
		Row{"object_id": "o2", "size_bytes": 1 << 20, "node_id": "aaaa", "owner_address": "127.0.0.1:9", "reference_type": "PINNED_IN_MEMORY", "spilled": true})))
	fixture("GET /api/v0/workers", s.serveList("worker_id", rows(
		Row{"worker_id": "w1", "node_id": "aaaa", "pid": 4321, "job_id": "01", "state": "ALIVE", "start_time_ms": 1})))
	fixture("GET /api/jobs/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, []Row{{"submission_id": "raysubmit_1", "status": "SUCCEEDED", "entrypoint": "python train.py",
			"message": "done", "start_time_ms": 1, "end_time_ms": 5000}})
	})
	fixture("GET /api/jobs/{id}/logs", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("epoch 1 loss 0.5\nepoch 2 loss 0.25\n"))
	})
	fixture("GET /api/v0/logs", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, ListReply{Result: []Row{{"filename": "node.log", "size_bytes": 100},
			{"filename": "worker-01-4321.log", "size_bytes": 40}, {"filename": "worker-01-43210.log", "size_bytes": 40}}, Total: 3})
	})
	fixture("GET /api/v0/logs/file", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("log of " + r.URL.Query().Get("filename") + " on " + r.URL.Query().Get("node_id") + "\n"))
	})
	front := httptest.NewServer(mux)
	t.Cleanup(front.Close)
	return front
}

func TestDashboardPagesInBrowser(t *testing.T) {
	chrome := browsertest.FindChromium(t)
	s, g := startHead(t)
	var down atomic.Bool
	front := contractFront(t, s, &down)
	b := browsertest.Start(t, chrome)
	browsertest.WatchConsole(t, b)
	const d = 20 * time.Second
	cell := func(sel string) string {
		return `(document.querySelector(` + browsertest.JS(sel) + `) || {}).textContent || ''`
	}

	// The token once in the address logs in.
	browsertest.Step(t, b, "open with ?token", d, chromedp.Navigate(front.URL+"/?token="+testToken),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="overview-title"]`)))
	browsertest.WaitJS(t, b, "the overview's counts", d,
		cell(`[data-testid=overview-nodes-by-state] [data-state=ALIVE] .count`)+` === '2' && `+
			cell(`[data-testid=overview-tasks-by-state] [data-state=FAILED] .count`)+` === '1' && `+
			cell(`[data-testid=chart-object-store] figcaption .muted`)+` === '4.0 MiB'`)

	// Tasks: the list with the warning, the filter box, the error as text.
	browsertest.Step(t, b, "tasks", d, chromedp.Navigate(front.URL+"/#/tasks"))
	browsertest.WaitJS(t, b, "two tasks and the dropped-events warning", d,
		`document.querySelectorAll('[data-testid=tasks-row]').length === 2 && `+cell(`#tasks-warnings`)+`.includes('dropped')`)
	browsertest.Step(t, b, "filter", d, chromedp.SendKeys(chromedp.ID("tasks-filter"), "state=FAILED"),
		chromedp.Click(chromedp.CSS(`[data-testid="tasks-filter-apply"]`)))
	failed := browsertest.RowWhere("tasks-grid", map[string]string{"error_message": `t.includes(` + browsertest.JS(xssProbe) + `)`})
	browsertest.WaitJS(t, b, "only the failed task, its error shown as text", d,
		`document.querySelectorAll('[data-testid=tasks-row]').length === 1 && `+failed)

	// Its details: message, stack, and the logs link to the worker's file.
	browsertest.Step(t, b, "task details", d, chromedp.Click(chromedp.CSS(`tr[data-id="t-bad"] [data-col=task_id] a`)),
		chromedp.WaitVisible(chromedp.ID("task-error-stack")))
	browsertest.WaitJS(t, b, "the error and stack", d, cell(`#task-error-message`)+` === `+browsertest.JS(xssProbe)+
		` && `+cell(`#task-error-stack`)+`.includes('main.go:12') && !document.querySelector('#view img') && window.__xss === undefined`)
	browsertest.Step(t, b, "task logs", d, chromedp.Click(chromedp.CSS(`[data-testid="task-logs-link"]`)))
	browsertest.WaitJS(t, b, "the worker's log file opened", d, cell(`#log-text`)+` === 'log of worker-01-4321.log on aaaa\n'`)

	// Jobs: the submitted job and its logs.
	browsertest.Step(t, b, "jobs", d, chromedp.Navigate(front.URL+"/#/jobs"))
	browsertest.WaitJS(t, b, "the submitted job", d, browsertest.RowWhere("submitted-jobs-grid",
		map[string]string{"status": `t === 'SUCCEEDED'`, "entrypoint": `t === 'python train.py'`}))
	browsertest.Step(t, b, "job logs", d, chromedp.Click(chromedp.CSS(`tr[data-id="raysubmit_1"] [data-col=logs] a`)))
	browsertest.WaitJS(t, b, "the job's logs", d, cell(`#job-logs`)+`.includes('epoch 2 loss 0.25')`)

	// Objects and memory: per node, and the objects.
	browsertest.Step(t, b, "objects", d, chromedp.Navigate(front.URL+"/#/objects"))
	browsertest.WaitJS(t, b, "objects by node", d, browsertest.RowWhere("objects-by-node-grid",
		map[string]string{"count": `t === '2'`, "bytes": `t === '4.0 MiB'`, "spilled": `t === '1'`}))

	// Nodes with their workers.
	browsertest.Step(t, b, "nodes", d, chromedp.Navigate(front.URL+"/#/nodes"))
	browsertest.WaitJS(t, b, "nodes and workers", d, `document.querySelectorAll('[data-testid=nodes-row]').length === 2 && `+
		`document.querySelectorAll('[data-testid=workers-row]').length === 1`)

	// The head stops: the dashboard answers 503; the page says so and
	// keeps its data.
	g.Stop()
	down.Store(true)
	browsertest.WaitJS(t, b, "the head-unreachable banner", d,
		`!document.querySelector('[data-testid=head-unreachable]').hidden && document.querySelector('#conn').dataset.state === 'down'`)
	browsertest.WaitJS(t, b, "the last data kept", d, `document.querySelectorAll('[data-testid=nodes-row]').length === 2 && `+
		cell(`[data-testid=nodes-status]`)+`.includes('unreachable')`)
}

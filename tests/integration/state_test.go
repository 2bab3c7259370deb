package integration_test

// The state API and the CLI over it: rayo list/get/summary/timeline on a
// real cluster, and the HTTP API refusing requests without the token.

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/internal/testcluster"
)

// rayoJSON runs a rayo command with --format json (where given) against
// the cluster and decodes its output.
func rayoJSON(t *testing.T, c *testcluster.Cluster, out any, args ...string) {
	t.Helper()
	args = append(args, "--address", c.Address(), "--token", c.Token())
	text, err := c.Rayo(t, args...)
	if err != nil {
		t.Fatalf("rayo %v: %v\n%s", args, err, text)
	}
	// Warnings go to stderr, which Run merges: decode from the JSON on.
	i := strings.IndexAny(text, "[{")
	if i < 0 || json.Unmarshal([]byte(text[i:]), out) != nil {
		t.Fatalf("rayo %v printed no JSON:\n%s", args, text)
	}
}

func TestStateAPI(t *testing.T) {
	c := startCluster(t)
	connect(t, c)
	ctx := withTimeout(t, 2*time.Minute)
	for i := range 5 {
		if v, err := inc.Remote(i).Get(ctx); err != nil || v != i+1 {
			t.Fatalf("inc(%d) = %d, %v", i, v, err)
		}
	}
	if _, err := failSentinel.Remote(7).Get(ctx); !errors.Is(err, errSentinel) {
		t.Fatalf("failSentinel: %v", err)
	}
	h, err := counterActor.Options(rayo.Name("state-counter")).New(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cIncr.Remote(h, 2).Get(ctx); err != nil {
		t.Fatal(err)
	}
	big, err := rayo.Put(ctx, make([]byte, 1<<20)) // in the store: an object to list
	if err != nil {
		t.Fatal(err)
	}
	// A ref that is no longer used may be collected and its object freed
	// (ref.go): keep this one until the listing below has run.
	defer runtime.KeepAlive(big)

	// Task events reach the head within a flush period (1 s).
	var failed []map[string]any
	// The owner's report and the worker's arrive separately: wait for
	// both (the worker's says where it ran).
	testcluster.WaitFor(t, 30*time.Second, func() bool {
		rayoJSON(t, c, &failed, "list", "tasks", "--format", "json", "--filter", "state=FAILED")
		return len(failed) == 1 && failed[0]["node_id"] != ""
	}, "the failed task, as its worker reported it, in rayo list tasks")
	f := failed[0]
	if f["name"] != "itest.failSentinel" || !strings.Contains(f["error_message"].(string), "the sentinel error") || f["node_id"] == "" {
		t.Fatalf("the failed task's record: %v", f)
	}
	var one map[string]any
	rayoJSON(t, c, &one, "get", "task", f["task_id"].(string))
	if one["task_id"] != f["task_id"] || one["worker_pid"].(float64) == 0 {
		t.Fatalf("rayo get task: %v", one)
	}
	// The task's worker log, found through its record.
	if out, err := c.Rayo(t, "logs", "--task-id", f["task_id"].(string), "--address", c.Address(), "--token", c.Token()); err != nil {
		t.Fatalf("rayo logs --task-id: %v\n%s", err, out)
	}
	var sum struct {
		ByName map[string]map[string]int `json:"by_name"`
	}
	testcluster.WaitFor(t, 30*time.Second, func() bool {
		rayoJSON(t, c, &sum, "summary", "tasks", "--format", "json")
		return sum.ByName["itest.inc"]["FINISHED"] == 5 && sum.ByName["itest.Counter.Incr"]["FINISHED"] == 1
	}, "rayo summary tasks to count 5 finished itest.inc and one Counter.Incr")
	out, err := c.Rayo(t, "summary", "tasks", "--address", c.Address(), "--token", c.Token())
	if err != nil || !strings.Contains(out, "itest.inc") || !strings.Contains(out, "FINISHED") {
		t.Fatalf("rayo summary tasks (table): %v\n%s", err, out)
	}

	var actors []map[string]any
	rayoJSON(t, c, &actors, "list", "actors", "--format", "json", "--filter", "name=state-counter")
	if len(actors) != 1 || actors[0]["state"] != "ALIVE" || actors[0]["actor_id"] != h.ID() {
		t.Fatalf("rayo list actors: %v", actors)
	}
	var workers []map[string]any
	rayoJSON(t, c, &workers, "list", "workers", "--format", "json", "--filter", "state=ACTOR")
	if len(workers) != 1 || workers[0]["pid"].(float64) != actors[0]["pid"].(float64) {
		t.Fatalf("rayo list workers --filter state=ACTOR: %v (actor %v)", workers, actors)
	}
	var objects []map[string]any
	rayoJSON(t, c, &objects, "list", "objects", "--format", "json", "--filter", "object_id="+big.ID())
	if len(objects) != 1 || objects[0]["size_bytes"].(float64) < 1<<20 {
		t.Fatalf("rayo list objects: %v", objects)
	}
	var nodes []map[string]any
	rayoJSON(t, c, &nodes, "list", "nodes", "--format", "json", "--filter", "is_head_node=false")
	if len(nodes) != 1 || nodes[0]["state"] != "ALIVE" {
		t.Fatalf("rayo list nodes --filter is_head_node=false: %v", nodes)
	}
	var limited []map[string]any
	rayoJSON(t, c, &limited, "list", "tasks", "--format", "json", "--limit", "2")
	if len(limited) != 2 {
		t.Fatalf("--limit 2 gave %d rows", len(limited))
	}

	// The timeline: valid Chrome trace JSON, one slice per execution.
	file := filepath.Join(t.TempDir(), "timeline.json")
	if out, err := c.Rayo(t, "timeline", "--output", file, "--address", c.Address(), "--token", c.Token()); err != nil {
		t.Fatalf("rayo timeline: %v\n%s", err, out)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var trace []struct {
		Name string `json:"name"`
		Ph   string `json:"ph"`
		Ts   int64  `json:"ts"`
		Dur  int64  `json:"dur"`
		Pid  int    `json:"pid"`
		Tid  int    `json:"tid"`
	}
	if err := json.Unmarshal(b, &trace); err != nil {
		t.Fatalf("the timeline is not JSON: %v", err)
	}
	slices := map[string]int{}
	for _, e := range trace {
		if e.Ph == "X" {
			if e.Ts <= 0 || e.Dur <= 0 || e.Tid <= 0 || e.Pid <= 0 {
				t.Errorf("a malformed slice: %+v", e)
			}
			slices[e.Name]++
		}
	}
	if slices["itest.inc"] != 5 || slices["itest.failSentinel"] != 1 || slices["itest.Counter.Incr"] != 1 {
		t.Fatalf("timeline slices: %v", slices)
	}

	// The HTTP API refuses a request without the token.
	dash := dashboardAddr(t, c)
	resp, err := http.Get("http://" + dash + "/api/v0/tasks")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the tasks API without the token: %d, want 401", resp.StatusCode)
	}
}

// dashboardAddr is the cluster's HTTP API address, from the head.
func dashboardAddr(t *testing.T, c *testcluster.Cluster) string {
	t.Helper()
	addr := c.Status(t).DashboardAddr
	if addr == "" {
		t.Fatal("the head reports no dashboard address")
	}
	return addr
}

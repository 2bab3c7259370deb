package integration_test

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/internal/microbench"
	"github.com/rayo-dev/rayo/internal/testcluster"
)

// TestHeadMemoryWithTaskRecords measures the head process's resident
// memory before and after it records RAYO_HEAD_MEMORY_TASKS finished
// tasks (docs/performance.md):
//
//	RAYO_HEAD_MEMORY_TASKS=100000 go test -run TestHeadMemoryWithTaskRecords -v ./tests/integration
func TestHeadMemoryWithTaskRecords(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("RAYO_HEAD_MEMORY_TASKS"))
	if n <= 0 {
		t.Skip("set RAYO_HEAD_MEMORY_TASKS to measure")
	}
	c := testcluster.Start(t, testcluster.NodeSpec{CPUs: 0}, testcluster.NodeSpec{CPUs: 2})
	connect(t, c)
	ctx := withTimeout(t, 10*time.Minute)
	before := rssKiB(t, c.Head().Pid)
	const batch = 5000
	for done := 0; done < n; done += batch {
		refs := make([]rayo.ObjectRef[int], min(batch, n-done))
		for i := range refs {
			refs[i] = inc.Remote(i)
		}
		if _, err := rayo.GetAll(ctx, refs); err != nil {
			t.Fatal(err)
		}
	}
	var sum struct {
		ByName map[string]map[string]int `json:"by_name"`
	}
	testcluster.WaitFor(t, time.Minute, func() bool {
		rayoJSON(t, c, &sum, "summary", "tasks", "--format", "json")
		return sum.ByName["itest.inc"]["FINISHED"] >= n
	}, fmt.Sprintf("the head to record %d finished tasks", n))
	after := rssKiB(t, c.Head().Pid)
	t.Logf("head process RSS: %.1f MiB before, %.1f MiB with %d finished task records (+%.1f MiB)",
		float64(before)/1024, float64(after)/1024, n, float64(after-before)/1024)
}

// rssKiB reads a process's resident set size.
func rssKiB(t *testing.T, pid int) int {
	t.Helper()
	kib := microbench.ProcStatusKiB(pid, "VmRSS")
	if kib == 0 {
		t.Fatalf("no VmRSS for pid %d", pid)
	}
	return kib
}

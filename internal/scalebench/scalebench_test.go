package scalebench_test

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rayo-dev/rayo/internal/microbench"
	"github.com/rayo-dev/rayo/internal/scalebench"
	"github.com/rayo-dev/rayo/internal/testcluster"
)

// TestHarness runs the whole harness on 3 nodes, every row at a small
// size, on namespaces where this runs as root (auto) and on loopback
// (off), and checks that each row appears with a sane value. Whatever
// happens, the run's processes and namespaces are gone afterwards.
func TestHarness(t *testing.T) {
	for _, netns := range []string{"auto", "off"} {
		t.Run("netns="+netns, func(t *testing.T) { testHarness(t, netns) })
	}
}

func testHarness(t *testing.T, netns string) {
	bin := testcluster.BuildRayo(t)
	var b [2]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	t.Cleanup(func() {
		if n := scalebench.KillLeftovers(id); n > 0 {
			t.Errorf("%d process(es) of the run were left running", n)
		}
		if os.Geteuid() == 0 {
			if err := scalebench.RemoveLeftovers(id); err != nil {
				t.Error(err)
			}
		}
	})
	// Every row but the failure at scale: reading results after killing a
	// node under load hangs now and then in rayo itself (about one run in
	// eight: the driver keeps sending lease requests to the silenced node,
	// dead to the head, over a TCP connection nothing closes;
	// docs/performance.md, Scale), which would make this test flaky. The
	// kill -9 and silenced-node rows stay.
	rows := `^N=3 (register|head|node|rayo|a first|tasks|pull|broadcast|kill -9 one|one node)`
	out, err := testcluster.Run(t, 4*time.Minute, testcluster.Command{Name: "microbenchmark", Path: bin, Dir: t.TempDir(), Args: []string{
		"microbenchmark", "--json", "--filter", rows, "--cluster-nodes", "3", "--cluster-run-id", id, "--cluster-netns", netns, "--temp-dir", t.TempDir(),
		"--cluster-tasks", "300", "--cluster-cpu-window", "1s", "--cluster-row-timeout", "2m",
		"--cluster-transfer-bytes", "8388608", "--cluster-broadcast-bytes", "4194304", "--cluster-broadcast-nodes", "2",
	}})
	if err != nil {
		t.Fatalf("rayo microbenchmark --cluster-nodes 3: %v\n%s", err, out)
	}
	// The JSON comes last; the log (stderr) before it.
	i := strings.Index(out, "\n[")
	if i < 0 {
		t.Fatalf("no JSON rows in:\n%s", out)
	}
	var rs []microbench.Result
	if err := json.Unmarshal([]byte(out[i+1:]), &rs); err != nil {
		t.Fatalf("the rows' JSON: %v\n%s", err, out)
	}
	got := map[string]microbench.Result{}
	for _, r := range rs {
		if math.IsNaN(r.Value) || math.IsInf(r.Value, 0) || r.Value < 0 || r.Unit == "" {
			t.Errorf("row %q: value %v %q", r.Name, r.Value, r.Unit)
		}
		got[r.Name] = r
	}
	want := []string{
		"N=3 register all nodes",
		"N=3 head CPU idle",
		"N=3 head RSS idle",
		"N=3 rayo status (median of 5)",
		"N=3 rayo list nodes (median of 5)",
		"N=3 tasks SPREAD",
		"N=3 tasks SPREAD: tasks per node, max",
		"N=3 head CPU under load",
		"N=3 pull 8 MiB to another node: bandwidth",
		"N=3 pull 8 MiB to another node: floor, one TLS stream on the same path",
		"N=3 broadcast 4 MiB to 2 nodes",
		"N=3 broadcast 4 MiB to 2 nodes: source sent",
		"N=3 kill -9 one node: marked dead after",
	}
	for _, name := range want {
		r, ok := got[name]
		if !ok {
			t.Errorf("no row %q in:\n%s", name, out)
			continue
		}
		if r.Value <= 0 && !strings.Contains(name, "CPU") {
			t.Errorf("row %q: %v %s", name, r.Value, r.Unit)
		}
	}
	silenced := false
	for name, r := range got {
		// "(link down)" on namespaces, "(SIGSTOP)" on loopback.
		if strings.HasPrefix(name, "N=3 one node silenced: marked dead after") && r.Value > 0 {
			silenced = true
		}
	}
	if !silenced {
		t.Errorf("no sane silenced-node row in:\n%s", out)
	}
	if r := got["N=3 tasks SPREAD: tasks per node, max"]; r.Value > 300 {
		t.Errorf("one node ran %v of 300 tasks", r.Value)
	}
}

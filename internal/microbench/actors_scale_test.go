package microbench_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/internal/microbench"
)

func TestRunManyActors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := rayo.Init(ctx, rayo.WithNumCPUs(2), rayo.WithLogToDriver(false), rayo.WithTempDir(t.TempDir())); err != nil {
		t.Fatal(err)
	}
	defer rayo.Shutdown()
	const n = 5
	rs, err := microbench.RunManyActors(ctx, microbench.Options{}, n, os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, r := range rs {
		got[r.Name] = r.Value
	}
	for _, name := range []string{"create 5 actors (until all alive)", "call each of 5 actors once",
		"kill 5 actors (until their processes are gone)", "head RSS before", "head RSS with 5 actors"} {
		if v, ok := got[name]; !ok || v <= 0 {
			t.Errorf("row %q: %v (present %v), want > 0", name, v, ok)
		}
	}
	if got["nodes the actors ran on"] != 1 {
		t.Errorf("the embedded cluster has one node, the actors ran on %v", got["nodes the actors ran on"])
	}
	if got["actor processes measured (/proc/<pid>/smaps_rollup)"] != n {
		t.Errorf("measured %v actor processes, want %d", got["actor processes measured (/proc/<pid>/smaps_rollup)"], n)
	}
	pss, rss := got["actor process PSS (median)"], got["actor process RSS (median)"]
	if pss <= 0 || pss > rss {
		t.Errorf("actor PSS %v MiB, RSS %v MiB: want 0 < PSS <= RSS", pss, rss)
	}
	var projected bool
	for name, v := range got {
		if strings.HasPrefix(name, "projected actors per 64-core 256 GiB node") {
			projected = v > 0
		}
	}
	if !projected {
		t.Errorf("no projection row in %v", got)
	}
	if _, err := microbench.RunManyActors(ctx, microbench.Options{}, 0, 0); err == nil {
		t.Error("0 actors: no error")
	}
}

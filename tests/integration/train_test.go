package integration_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/collective"
	"github.com/rayo-dev/rayo/train"
)

// Train on a multi-process cluster: a worker group spread over the head's
// node and a second node; the second node is killed mid-run, and the
// group restarts from the latest checkpoint with the one worker that
// still fits (MinWorkers 1).

// trainStepLoop runs "steps" steps of an AllReduce, reporting every step
// with a checkpoint of the step from rank 0. On the first attempt, the
// worker on "victim" node creates "<scratch>/victim-ready" at step 3 and
// waits there for its node to be killed.
var trainStepLoop = train.RegisterLoop("itest.train.steps", func(ctx context.Context, cfg train.Config) error {
	tc, err := train.GetContext(ctx)
	if err != nil {
		return err
	}
	comm, err := train.JoinCollective(ctx)
	if err != nil {
		return err
	}
	start := 0
	if ck, err := train.GetCheckpoint(ctx); err != nil {
		return err
	} else if ck != nil {
		b, err := os.ReadFile(filepath.Join(ck.Path(), "step"))
		if err != nil {
			return err
		}
		n, _ := strconv.Atoi(string(b))
		start = n + 1
	}
	for step := start; step < cfg.Int("steps"); step++ {
		if tc.Attempt == 0 && tc.NodeID == cfg.String("victim") && step == 3 {
			if err := os.WriteFile(filepath.Join(dScratch(), "victim-ready"), nil, 0o644); err != nil {
				return err
			}
			<-ctx.Done() // until the node dies
			return ctx.Err()
		}
		buf := []float64{1}
		if err := collective.AllReduce(ctx, comm, buf, collective.Sum); err != nil {
			return err
		}
		var ck *train.Checkpoint
		if tc.WorldRank == 0 {
			dir, err := os.MkdirTemp("", "ck-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			if err := os.WriteFile(filepath.Join(dir, "step"), []byte(strconv.Itoa(step)), 0o600); err != nil {
				return err
			}
			ck = train.CheckpointFromDir(dir)
		}
		if err := train.Report(ctx, map[string]any{"step": step, "sum": buf[0], "node": tc.NodeID}, ck); err != nil {
			return err
		}
	}
	return nil
})

func TestTrainNodeLossRestartsSmaller(t *testing.T) {
	c := startCluster(t)
	connect(t, c)
	scratch := dMakeScratch(t, c)
	victim := c.NodeIDWithResource(t, "special")

	type fitOut struct {
		res *train.Result
		err error
	}
	done := make(chan fitOut, 1)
	storage := t.TempDir()
	go func() {
		tr := &train.DataParallelTrainer{Loop: trainStepLoop, LoopConfig: train.Config{"steps": 8, "victim": victim},
			Scaling: train.ScalingConfig{NumWorkers: 2, MinWorkers: 1, PlacementStrategy: rayo.STRICT_SPREAD, PlacementTimeout: 10 * time.Second},
			Run:     train.RunConfig{Name: "spread", StoragePath: storage, Failure: train.FailureConfig{MaxFailures: 1}}}
		res, err := tr.Fit(withTimeout(t, 3*time.Minute))
		done <- fitOut{res, err}
	}()
	waitFile(t, filepath.Join(scratch, "victim-ready"), "the victim's worker to reach step 3")
	for _, p := range c.NodeProcs() {
		if p.NodeID == victim {
			c.KillNode(t, p)
		}
	}
	out := <-done
	if out.err != nil {
		t.Fatal(out.err)
	}
	res := out.res
	last := res.MetricsHistory[len(res.MetricsHistory)-1]
	if res.Failures != 1 || res.WorldSize != 1 || last.Attempt != 1 || last.WorldSize != 1 || last.Metrics.Int("step") != 7 ||
		last.Metrics.Float("sum") != 1 || last.Metrics.String("node") == victim {
		b, _ := json.Marshal(res.MetricsHistory)
		t.Fatalf("failures %d, world %d, history %s", res.Failures, res.WorldSize, b)
	}
	// Steps 0-2 ran on two nodes, summing 2.
	if first := res.MetricsHistory[0]; first.WorldSize != 2 || first.Metrics.Float("sum") != 2 {
		t.Fatalf("first round %+v", first)
	}
}

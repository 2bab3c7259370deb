package train_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rayo-dev/rayo/collective"
	"github.com/rayo-dev/rayo/data"
	"github.com/rayo-dev/rayo/train"
)

// sumLoop: each step every rank contributes rank+step to an AllReduce,
// adds the mean to its running total, and reports; rank 0 checkpoints
// the total on odd steps ("ckpt_every" in the config changes that).
// After a restart it resumes from the checkpoint's total and step. The
// config's "die_rank", "die_step" and "die_attempt" make that rank kill
// its own process at that step of that attempt; "fail_rank" returns an
// error; "panic_rank" panics; "hang_rank" never joins the collective.
var sumLoop = train.RegisterLoop("train_test.sum", func(ctx context.Context, cfg train.Config) error {
	tc, err := train.GetContext(ctx)
	if err != nil {
		return err
	}
	comm, err := train.JoinCollective(ctx)
	if err != nil {
		return err
	}
	total, start := 0.0, 0
	if ck, err := train.GetCheckpoint(ctx); err != nil {
		return err
	} else if ck != nil {
		b, err := os.ReadFile(filepath.Join(ck.Path(), "state.json"))
		if err != nil {
			return err
		}
		var st struct {
			Total float64
			Step  int
		}
		if err := json.Unmarshal(b, &st); err != nil {
			return err
		}
		total, start = st.Total, st.Step+1
	}
	every := max(cfg.Int("ckpt_every"), 1)
	for step := start; step < cfg.Int("steps"); step++ {
		if !cfg.Bool("die_after") && tc.WorldRank == cfg.Int("die_rank") && step == cfg.Int("die_step") && tc.Attempt == cfg.Int("die_attempt") {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
		if tc.WorldRank == cfg.Int("fail_rank") && step == 1 {
			return fmt.Errorf("rank %d gave up at step %d", tc.WorldRank, step)
		}
		if tc.WorldRank == cfg.Int("panic_rank") && step == 1 {
			var m map[string]int
			m["boom"] = 1
		}
		if tc.WorldRank == cfg.Int("hang_rank") && step == 1 {
			<-ctx.Done()
			return ctx.Err()
		}
		buf := []float64{float64(tc.WorldRank + step)}
		if err := collective.AllReduce(ctx, comm, buf, collective.Mean); err != nil {
			return err
		}
		total += buf[0]
		var ck *train.Checkpoint
		if (step%every == every-1 && tc.WorldRank == 0) || cfg.Bool("shard") {
			dir, err := os.MkdirTemp("", "ck-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			b, _ := json.Marshal(map[string]any{"Total": total, "Step": step})
			name := "state.json"
			if tc.WorldRank != 0 {
				name = fmt.Sprintf("shard_%d.json", tc.WorldRank)
			}
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
				return err
			}
			ck = train.CheckpointFromDir(dir)
		}
		m := map[string]any{"step": step, "total": total, "rank": tc.WorldRank, "world": tc.WorldSize,
			"local_rank": tc.LocalRank, "local_world": tc.LocalWorldSize, "node_rank": tc.NodeRank, "score": -abs(float64(step) - 2)}
		if err := train.Report(ctx, m, ck); err != nil {
			return err
		}
		// "die_after": the same death, right after a Report returned.
		if cfg.Bool("die_after") && tc.WorldRank == cfg.Int("die_rank") && step == cfg.Int("die_step") && tc.Attempt == 0 {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
	}
	return nil
})

func abs(x float64) float64 { return max(x, -x) }

// want is the total a run of steps reaches with size workers.
func want(steps, size int) float64 {
	t := 0.0
	for s := range steps {
		t += float64(s) + float64(size-1)/2
	}
	return t
}

func trainer(t *testing.T, cfg train.Config, workers int) *train.DataParallelTrainer {
	return &train.DataParallelTrainer{Loop: sumLoop, LoopConfig: cfg,
		Scaling: train.ScalingConfig{NumWorkers: workers, PlacementTimeout: time.Minute},
		Run:     train.RunConfig{Name: "run", StoragePath: t.TempDir(), Failure: train.FailureConfig{CollectiveTimeout: time.Minute}}}
}

func defaults(kv ...any) train.Config {
	cfg := train.Config{"steps": 5, "die_rank": -1, "fail_rank": -1, "panic_rank": -1, "hang_rank": -1}
	for i := 0; i < len(kv); i += 2 {
		cfg[kv[i].(string)] = kv[i+1]
	}
	return cfg
}

func TestFitReportsAndCheckpoints(t *testing.T) {
	tr := trainer(t, defaults(), 2)
	tr.Run.Checkpoint = train.CheckpointConfig{NumToKeep: 1, ScoreAttribute: "score"}
	res, err := tr.Fit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.MetricsHistory) != 5 || res.Failures != 0 || res.WorldSize != 2 {
		t.Fatalf("history %d, failures %d, world %d", len(res.MetricsHistory), res.Failures, res.WorldSize)
	}
	for i, r := range res.MetricsHistory {
		if r.Round != i || r.WorldSize != 2 || toInt(r.Metrics["rank"]) != 0 || toInt(r.Metrics["step"]) != i {
			t.Fatalf("round %d: %+v", i, r)
		}
	}
	if got := res.Metrics["total"]; got != want(5, 2) {
		t.Fatalf("total %v, want %v", got, want(5, 2))
	}
	m := res.Metrics
	if toInt(m["world"]) != 2 || toInt(m["local_world"]) != 2 || toInt(m["local_rank"]) != 0 || toInt(m["node_rank"]) != 0 {
		t.Fatalf("context: %v", m)
	}
	// Checkpoints in rounds 0..4 (every step): score -|step-2| is best
	// at round 2, and the latest (round 4) is kept as well.
	entries, _ := os.ReadDir(res.Path)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{".lock", "checkpoint_000002", "checkpoint_000004", "result.json"}) {
		t.Fatalf("run directory: %v", names)
	}
	if res.Checkpoint == nil || filepath.Base(res.Checkpoint.Path()) != "checkpoint_000004" {
		t.Fatalf("latest checkpoint %v", res.Checkpoint)
	}
	if len(res.BestCheckpoints) != 2 || filepath.Base(res.BestCheckpoints[0].Checkpoint.Path()) != "checkpoint_000002" {
		t.Fatalf("best checkpoints %+v", res.BestCheckpoints)
	}
	lines, _ := os.ReadFile(filepath.Join(res.Path, "result.json"))
	if n := strings.Count(string(lines), "\n"); n != 5 {
		t.Fatalf("result.json has %d lines", n)
	}
	st, err := os.Stat(res.Path)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("run directory mode %v, %v", st.Mode(), err)
	}
}

func toInt(v any) int {
	switch n := v.(type) {
	case int8:
		return int(n)
	case int16:
		return int(n)
	case int32:
		return int(n)
	case int64:
		return int(n)
	case uint8:
		return int(n)
	case uint16:
		return int(n)
	case uint32:
		return int(n)
	case uint64:
		return int(n)
	case int:
		return n
	case float64:
		return int(n)
	}
	return -1000
}

func TestWorkerKilledRestartsFromCheckpoint(t *testing.T) {
	for _, shared := range []bool{false, true} {
		t.Run("shared="+strconv.FormatBool(shared), func(t *testing.T) {
			tr := trainer(t, defaults("steps", 6, "ckpt_every", 2, "die_rank", 1, "die_step", 4, "die_attempt", 0), 2)
			tr.Run.SharedStorage = shared
			tr.Run.Failure.MaxFailures = 2
			res, err := tr.Fit(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if res.Failures != 1 {
				t.Fatalf("failures %d", res.Failures)
			}
			if got := res.Metrics["total"]; got != want(6, 2) {
				t.Fatalf("total %v, want %v", got, want(6, 2))
			}
			// Rounds 0-3 in attempt 0 (rank 1 dies before reporting round
			// 4; every report that returned reaches the driver, so the
			// checkpoint of round 3 is the latest), then 4-5 in attempt 1.
			var rounds []string
			for _, r := range res.MetricsHistory {
				rounds = append(rounds, fmt.Sprintf("%d/%d", r.Attempt, r.Round))
			}
			if got := strings.Join(rounds, " "); got != "0/0 0/1 0/2 0/3 1/4 1/5" {
				t.Fatalf("rounds %v", rounds)
			}
			if filepath.Base(res.Checkpoint.Path()) != "checkpoint_000005" {
				t.Fatalf("latest %v", res.Checkpoint)
			}
		})
	}
}

func TestTooManyFailures(t *testing.T) {
	tr := trainer(t, defaults("die_rank", 0, "die_step", 1, "die_attempt", 0), 2)
	res, err := tr.Fit(context.Background())
	var we *train.WorkerError
	if !errors.Is(err, train.ErrTooManyFailures) || !errors.Is(err, train.ErrWorkerLost) || !errors.As(err, &we) || we.Rank != 0 {
		t.Fatalf("err %v", err)
	}
	if res.Error != err || res.Failures != 1 || len(res.MetricsHistory) != 1 {
		t.Fatalf("result %+v", res)
	}
}

func TestLoopErrorIsNotRetried(t *testing.T) {
	tr := trainer(t, defaults("fail_rank", 1), 2)
	tr.Run.Failure.MaxFailures = 3
	res, err := tr.Fit(context.Background())
	var we *train.WorkerError
	if !errors.Is(err, train.ErrWorkerFailed) || !errors.As(err, &we) || we.Rank != 1 || !strings.Contains(we.Message, "gave up at step 1") {
		t.Fatalf("err %v", err)
	}
	if res.Failures != 0 {
		t.Fatalf("failures %d", res.Failures)
	}
}

func TestLoopPanicIsAnError(t *testing.T) {
	res, err := trainer(t, defaults("panic_rank", 0), 2).Fit(context.Background())
	var we *train.WorkerError
	if !errors.Is(err, train.ErrWorkerFailed) || !errors.As(err, &we) || we.Rank != 0 || !strings.Contains(we.Message, "assignment to entry in nil map") ||
		!strings.Contains(we.Stack, "train_test") {
		t.Fatalf("err %v (stack %q)", err, we.Stack)
	}
	if res.Error == nil {
		t.Fatal("no error in the result")
	}
}

func TestHungRankIsNamed(t *testing.T) {
	tr := trainer(t, defaults("hang_rank", 1), 2)
	tr.Run.Failure.CollectiveTimeout = 500 * time.Millisecond
	_, err := tr.Fit(context.Background())
	var we *train.WorkerError
	if !errors.Is(err, train.ErrWorkerHung) || !errors.As(err, &we) || we.Rank != 1 {
		t.Fatalf("err %v", err)
	}
}

func TestShardedCheckpoint(t *testing.T) {
	res, err := trainer(t, defaults("steps", 2, "shard", true), 2).Fit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"state.json", "shard_1.json"} {
		if _, err := os.Stat(filepath.Join(res.Checkpoint.Path(), f)); err != nil {
			t.Fatalf("merged checkpoint lacks %s: %v", f, err)
		}
	}
}

func TestResumeFromCheckpoint(t *testing.T) {
	first, err := trainer(t, defaults("steps", 3), 1).Fit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tr := trainer(t, defaults("steps", 5), 1)
	tr.ResumeFromCheckpoint = first.Checkpoint
	res, err := tr.Fit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.MetricsHistory) != 2 || res.Metrics["total"] != want(5, 1) {
		t.Fatalf("history %d, total %v", len(res.MetricsHistory), res.Metrics["total"])
	}
}

var lateLoop *train.Loop

func TestBadInput(t *testing.T) {
	ctx := context.Background()
	lateLoop = train.RegisterLoop("train_test.late", func(context.Context, train.Config) error { return nil })
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		edit func(*train.DataParallelTrainer)
		want error
	}{
		{"no loop", func(tr *train.DataParallelTrainer) { tr.Loop = nil }, train.ErrNotRegistered},
		{"closure", func(tr *train.DataParallelTrainer) { tr.Loop = lateLoop }, train.ErrNotRegistered},
		{"no workers", func(tr *train.DataParallelTrainer) { tr.Scaling.NumWorkers = 0 }, train.ErrInvalidConfig},
		{"min above num", func(tr *train.DataParallelTrainer) { tr.Scaling.MinWorkers = 3 }, train.ErrInvalidConfig},
		{"bad name", func(tr *train.DataParallelTrainer) { tr.Run.Name = "../x" }, train.ErrInvalidConfig},
		{"bad order", func(tr *train.DataParallelTrainer) { tr.Run.Checkpoint.Order = "up" }, train.ErrInvalidConfig},
		{"storage under a file", func(tr *train.DataParallelTrainer) { tr.Run.StoragePath = file }, train.ErrStorage},
		{"gpus the cluster lacks", func(tr *train.DataParallelTrainer) { tr.Scaling.UseGPU = true }, train.ErrInfeasible},
		{"more workers than fit", func(tr *train.DataParallelTrainer) { tr.Scaling.NumWorkers = 5 }, train.ErrInfeasible},
		{"nil dataset", func(tr *train.DataParallelTrainer) { tr.Datasets = map[string]*data.Dataset{"x": nil} }, train.ErrInvalidConfig},
		{"resume from nothing", func(tr *train.DataParallelTrainer) {
			tr.ResumeFromCheckpoint = train.CheckpointFromDir(filepath.Join(file, "x"))
		}, train.ErrStorage},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := trainer(t, defaults(), 2)
			c.edit(tr)
			res, err := tr.Fit(ctx)
			if !errors.Is(err, c.want) || res == nil || res.Error != err {
				t.Fatalf("err %v, want %v", err, c.want)
			}
		})
	}
}

func TestElasticMinWorkers(t *testing.T) {
	// Each worker takes 3 of the cluster's 4 CPUs: one fits.
	tr := trainer(t, defaults("steps", 2), 2)
	tr.Scaling.ResourcesPerWorker = map[string]float64{"CPU": 3}
	tr.Scaling.MinWorkers = 1
	res, err := tr.Fit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.WorldSize != 1 || res.Metrics["total"] != want(2, 1) {
		t.Fatalf("world %d, total %v", res.WorldSize, res.Metrics["total"])
	}
}

// shardLoop sums its share of the "nums" dataset for two epochs.
var shardLoop = train.RegisterLoop("train_test.shard", func(ctx context.Context, cfg train.Config) error {
	it, err := train.DatasetShard(ctx, "nums")
	if err != nil {
		return err
	}
	if _, err := train.DatasetShard(ctx, "other"); !errors.Is(err, train.ErrNoDataset) {
		return fmt.Errorf("unknown dataset: %v", err)
	}
	for epoch := range 2 {
		rows, sum := 0, int64(0)
		for v, err := range data.IterSplitRows[struct {
			ID int64 `arrow:"id"`
		}](ctx, it) {
			if err != nil {
				return err
			}
			rows++
			sum += v.ID
		}
		if err := train.Report(ctx, map[string]any{"rows": rows, "sum": sum, "epoch": epoch}, nil); err != nil {
			return err
		}
	}
	return nil
})

func TestDatasetShard(t *testing.T) {
	tr := &train.DataParallelTrainer{Loop: shardLoop, Scaling: train.ScalingConfig{NumWorkers: 2},
		Run:      train.RunConfig{StoragePath: t.TempDir()},
		Datasets: map[string]*data.Dataset{"nums": data.Range(1000)}}
	res, err := tr.Fit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.MetricsHistory) != 2 {
		t.Fatalf("history %+v", res.MetricsHistory)
	}
	for _, r := range res.MetricsHistory {
		if toInt(r.Metrics["rows"]) != 500 {
			t.Fatalf("rank 0 read %v rows in epoch %v", r.Metrics["rows"], r.Metrics["epoch"])
		}
	}
}

func TestOutsideAWorker(t *testing.T) {
	ctx := context.Background()
	if _, err := train.GetContext(ctx); !errors.Is(err, train.ErrNotInWorker) {
		t.Fatal(err)
	}
	if err := train.Report(ctx, nil, nil); !errors.Is(err, train.ErrNotInWorker) {
		t.Fatal(err)
	}
	if _, err := train.GetCheckpoint(ctx); !errors.Is(err, train.ErrNotInWorker) {
		t.Fatal(err)
	}
	if _, err := train.DatasetShard(ctx, "x"); !errors.Is(err, train.ErrNotInWorker) {
		t.Fatal(err)
	}
	if _, err := train.JoinCollective(ctx); !errors.Is(err, train.ErrNotInWorker) {
		t.Fatal(err)
	}
}

// A report whose Report returned reaches the driver even when its worker
// dies at once after: the checkpoint of round 0 is the one restored.
func TestReportSurvivesItsWorker(t *testing.T) {
	for range 3 {
		tr := trainer(t, defaults("steps", 3, "die_after", true, "die_rank", 0, "die_step", 0), 1)
		tr.Run.Failure.MaxFailures = 1
		res, err := tr.Fit(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var rounds []string
		for _, r := range res.MetricsHistory {
			rounds = append(rounds, fmt.Sprintf("%d/%d", r.Attempt, r.Round))
		}
		if got := strings.Join(rounds, " "); got != "0/0 1/1 1/2" || res.Metrics["total"] != want(3, 1) {
			t.Fatalf("rounds %v, total %v", rounds, res.Metrics["total"])
		}
	}
}

// A Fit that reuses a run's Name and loses a worker restarts from its own
// checkpoints, not from the earlier Fit's.
func TestRestartIgnoresAnEarlierFitsCheckpoints(t *testing.T) {
	storage := t.TempDir()
	first := trainer(t, defaults("steps", 10), 2)
	first.Run.StoragePath = storage
	if _, err := first.Fit(context.Background()); err != nil {
		t.Fatal(err)
	}
	second := trainer(t, defaults("steps", 5, "ckpt_every", 100, "die_rank", 1, "die_step", 0, "die_attempt", 0), 2)
	second.Run.StoragePath, second.Run.Failure.MaxFailures = storage, 1
	res, err := second.Fit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Failures != 1 || len(res.MetricsHistory) != 5 || res.Metrics["total"] != want(5, 2) {
		t.Fatalf("failures %d, history %d, total %v", res.Failures, len(res.MetricsHistory), res.Metrics["total"])
	}
}

// A diverged loss (NaN) is recorded, not a storage failure.
func TestNaNMetric(t *testing.T) {
	res, err := (&train.DataParallelTrainer{Loop: nanLoop, Scaling: train.ScalingConfig{NumWorkers: 1},
		Run: train.RunConfig{Name: "nan", StoragePath: t.TempDir(), Checkpoint: train.CheckpointConfig{NumToKeep: 1, ScoreAttribute: "loss", Order: train.Min}}}).Fit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(res.Path, "result.json"))
	if err != nil || !strings.Contains(string(b), `"loss":"NaN"`) {
		t.Fatalf("result.json %s, %v", b, err)
	}
	// The NaN round never ranks best: round 0 (loss 1) is kept with the
	// latest (round 2).
	if len(res.BestCheckpoints) != 2 || filepath.Base(res.BestCheckpoints[0].Checkpoint.Path()) != "checkpoint_000000" {
		t.Fatalf("best %+v", res.BestCheckpoints)
	}
}

var nanLoop = train.RegisterLoop("train_test.nan", func(ctx context.Context, _ train.Config) error {
	for i, loss := range []float64{1, math.NaN(), 2} {
		dir, err := os.MkdirTemp("", "ck-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		if err := train.Report(ctx, map[string]any{"loss": loss, "i": i}, train.CheckpointFromDir(dir)); err != nil {
			return err
		}
	}
	return nil
})

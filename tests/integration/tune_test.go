package integration_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/internal/testcluster"
	"github.com/rayo-dev/rayo/tune"
)

// Tune on a multi-process cluster: a head that runs no trial (0 CPUs) and
// node daemons as real processes, this test binary as the driver (it runs
// Fit, with StoragePath a driver-local temporary directory) and as every
// worker, so every trial runs in another process, on another node. The
// trainables record where they run in the cluster's KV store, since
// metrics are numbers only.

const tuneNS = "itest.tune" // KV namespace of these tests

func tuneKVPut(ctx context.Context, key, value string, opts ...rayo.KVOption) (bool, error) {
	return rayo.KVPut(ctx, key, []byte(value), append(opts, rayo.KVNamespace(tuneNS))...)
}

func tuneKVGet(ctx context.Context, key string) (string, error) {
	v, err := rayo.KVGet(ctx, key, rayo.KVNamespace(tuneNS))
	return string(v), err
}

// tuneHere is "<node ID> <pid>" of the calling process.
func tuneHere() string { return rayo.NodeID() + " " + strconv.Itoa(os.Getpid()) }

// tuneRecordWhere stores where the trial of ctx runs under
// where/<trial ID> (a restarted trial overwrites it).
func tuneRecordWhere(ctx context.Context) error {
	tc, err := tune.GetContext(ctx)
	if err != nil {
		return err
	}
	_, err = tuneKVPut(ctx, "where/"+tc.TrialID, tuneHere())
	return err
}

// tuneReport reports, and turns the error Report returns on a stopped
// trial into a plain return.
func tuneReport(ctx context.Context, m tune.Metrics, c *tune.Checkpoint) (stop bool, err error) {
	if err := tune.Report(ctx, m, c); err != nil {
		if ctx.Err() != nil {
			return true, nil
		}
		return true, err
	}
	return false, nil
}

const (
	curveIters  = 6
	curveTarget = 0.7
	curveState  = "state.json"
)

// curveCkpt is what the curve trainable's directory checkpoint holds.
type curveCkpt struct {
	Iteration int    `json:"iteration"`
	Node      string `json:"node"`
}

// bundleOut is what a task placed in a trial's bundle 1 returns.
type bundleOut struct {
	Square int
	Node   string
	Bundle int
}

var (
	// tuneCurve's score rises with the iteration and is best for x near
	// curveTarget at every iteration, so ASHA never stops the best trial.
	// Each result carries a directory checkpoint naming the node that
	// made it.
	tuneCurve = tune.Function("itest.tune.curve", func(ctx context.Context, p tune.Params) error {
		if err := tuneRecordWhere(ctx); err != nil {
			return err
		}
		tc, err := tune.GetContext(ctx)
		if err != nil {
			return err
		}
		x := p.Float("x")
		start := 0
		if c := tune.GetCheckpoint(ctx); c != nil {
			dir, err := c.Dir()
			if err != nil {
				return err
			}
			var st curveCkpt
			b, err := os.ReadFile(filepath.Join(dir, curveState))
			if err == nil {
				err = json.Unmarshal(b, &st)
			}
			if err != nil {
				return err
			}
			start = st.Iteration
			// A resume: from a checkpoint made where, to run where.
			key := fmt.Sprintf("resume/%s/%d", tc.TrialID, start)
			if _, err := tuneKVPut(ctx, key, st.Node+" "+rayo.NodeID()); err != nil {
				return err
			}
		}
		for it := start + 1; it <= curveIters; it++ {
			dir, err := os.MkdirTemp("", "itest-tune-curve-")
			if err != nil {
				return err
			}
			b, _ := json.Marshal(curveCkpt{Iteration: it, Node: rayo.NodeID()})
			if err := os.WriteFile(filepath.Join(dir, curveState), b, 0o644); err != nil {
				return err
			}
			score := (1 - (x-curveTarget)*(x-curveTarget)) * float64(it) / float64(it+1)
			stop, err := tuneReport(ctx, tune.Metrics{"score": score, "resumed_from": float64(start)}, tune.CheckpointFromDir(dir))
			_ = os.RemoveAll(dir) // read when reported
			if stop {
				return err
			}
		}
		return nil
	})

	// tuneResumable checkpoints its iteration at each result and reports
	// the iteration it resumed from. Trial "id" 0 announces itself in the
	// KV store after its third result, the first time only, and waits to
	// be killed; trial "id" 2 fails at its second iteration, every time.
	tuneResumable = tune.Function("itest.tune.resumable", func(ctx context.Context, p tune.Params) error {
		if err := tuneRecordWhere(ctx); err != nil {
			return err
		}
		tc, err := tune.GetContext(ctx)
		if err != nil {
			return err
		}
		start := 0
		if c := tune.GetCheckpoint(ctx); c != nil {
			b, err := c.Bytes()
			if err != nil {
				return err
			}
			if start, err = strconv.Atoi(string(b)); err != nil {
				return err
			}
		}
		id := p.Int("id")
		for it := start + 1; it <= resumableIters; it++ {
			if id == 2 && it == 2 {
				return fmt.Errorf("itest: trial %s fails at iteration %d: %w", tc.TrialID, it, errSentinel)
			}
			m := tune.Metrics{"score": float64(it), "resumed_from": float64(start), "id": float64(id)}
			if stop, err := tuneReport(ctx, m, tune.CheckpointFromBytes([]byte(strconv.Itoa(it)))); stop {
				return err
			}
			if id == 0 && it == 3 {
				added, err := tuneKVPut(ctx, "victim", tuneHere(), rayo.KVNoOverwrite())
				if err != nil {
					return err
				}
				if added {
					<-ctx.Done() // the test kills this process's node first
					return ctx.Err()
				}
			}
		}
		return nil
	})

	tunePBTModel = tune.Class("itest.tune.pbtModel", func() tune.ClassTrainable { return &pbtModel{} })

	tunePGClass = tune.Class("itest.tune.pgClass", func() tune.ClassTrainable { return &pgModel{} })

	// tunePG runs a task in its trial's bundle 1 and reports its result.
	tunePG = tune.Function("itest.tune.pg", func(ctx context.Context, p tune.Params) error {
		tc, err := tune.GetContext(ctx)
		if err != nil {
			return err
		}
		if tc.PlacementGroup == nil {
			return errors.New("itest: the trial has no placement group")
		}
		out, err := tuneInBundle.Options(rayo.InPlacementGroup(tc.PlacementGroup, 1)).Remote(p.Int("x")).Get(ctx)
		if err != nil {
			return err
		}
		if _, err := tuneKVPut(ctx, "pg/"+tc.TrialID, rayo.NodeID()+" "+out.Node); err != nil {
			return err
		}
		_, err = tuneReport(ctx, tune.Metrics{"square": float64(out.Square), "bundle": float64(out.Bundle)}, nil)
		return err
	})

	tuneInBundle = rayo.Register[bundleOut]("itest.tune.inBundle", func(ctx context.Context, x int) (bundleOut, error) {
		rc, err := rayo.GetRuntimeContext(ctx)
		return bundleOut{Square: x * x, Node: rayo.NodeID(), Bundle: rc.BundleIndex}, err
	})
)

const resumableIters = 6

// pbtModel is a class trainable: w grows by lr each step. Its checkpoint
// carries w and the pid of the process that saved it, which the trial
// reports after a Load (loaded_w, loaded_pid): proof of whose checkpoint
// it resumed from.
type pbtModel struct {
	lr, w              float64
	steps              int
	loaded             bool
	loadedW, loadedPid float64
}

type pbtCkpt struct {
	W   float64 `json:"w"`
	Pid int     `json:"pid"`
}

const pbtPopulation = 4

func (m *pbtModel) Setup(ctx context.Context, p tune.Params) error {
	m.lr = p.Float("lr")
	_, err := tuneKVPut(ctx, "pbt-ready/"+strconv.Itoa(os.Getpid()), "")
	return err
}

func (m *pbtModel) Step(ctx context.Context) (tune.Metrics, error) {
	if m.steps == 0 && !m.loaded {
		// Start together: a trial whose worker started first must not
		// finish before the others rank it.
		if err := tuneWaitKV(ctx, "pbt-ready/", pbtPopulation); err != nil {
			return nil, err
		}
	}
	m.w += m.lr
	m.steps++
	return tune.Metrics{"score": m.w, "pid": float64(os.Getpid()), "loaded_w": m.loadedW, "loaded_pid": m.loadedPid}, nil
}

func (m *pbtModel) Save(context.Context) (*tune.Checkpoint, error) {
	b, err := json.Marshal(pbtCkpt{W: m.w, Pid: os.Getpid()})
	return tune.CheckpointFromBytes(b), err
}

func (m *pbtModel) Load(_ context.Context, c *tune.Checkpoint) error {
	b, err := c.Bytes()
	if err != nil {
		return err
	}
	var ck pbtCkpt
	if err := json.Unmarshal(b, &ck); err != nil {
		return err
	}
	m.w, m.loaded, m.loadedW, m.loadedPid = ck.W, true, ck.W, float64(ck.Pid)
	return nil
}

// pgModel is a class trainable that runs a task in its trial's bundle 1
// at each step, as a multi-worker training run would.
type pgModel struct {
	x     int
	trial tune.TrialContext
}

func (m *pgModel) Setup(ctx context.Context, p tune.Params) error {
	tc, err := tune.GetContext(ctx)
	if err != nil {
		return fmt.Errorf("itest: a class trainable's Setup has no trial context: %w", err)
	}
	if tc.PlacementGroup == nil {
		return errors.New("itest: the trial has no placement group")
	}
	m.x, m.trial = p.Int("x"), tc
	return nil
}

func (m *pgModel) Step(ctx context.Context) (tune.Metrics, error) {
	out, err := tuneInBundle.Options(rayo.InPlacementGroup(m.trial.PlacementGroup, 1)).Remote(m.x).Get(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := tuneKVPut(ctx, "pg/"+m.trial.TrialID, rayo.NodeID()+" "+out.Node); err != nil {
		return nil, err
	}
	return tune.Metrics{"square": float64(out.Square), "bundle": float64(out.Bundle)}, tune.ErrDone
}

func (m *pgModel) Save(context.Context) (*tune.Checkpoint, error) { return nil, nil }
func (m *pgModel) Load(context.Context, *tune.Checkpoint) error   { return nil }

// tuneWaitKV waits until n keys under prefix exist (a barrier across
// processes: the KV store is the event, polled).
func tuneWaitKV(ctx context.Context, prefix string, n int) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		keys, err := rayo.KVList(ctx, prefix, rayo.KVNamespace(tuneNS))
		if err != nil {
			return err
		}
		if len(keys) >= n {
			return nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// startTuneCluster starts a head with no CPU (no trial runs beside the
// driver's objects) and nodes of the given CPUs, and connects.
func startTuneCluster(t *testing.T, cpus ...float64) *testcluster.Cluster {
	t.Helper()
	specs := make([]testcluster.NodeSpec, len(cpus))
	for i, n := range cpus {
		specs[i] = testcluster.NodeSpec{CPUs: n}
	}
	c := testcluster.Start(t, testcluster.NodeSpec{CPUs: 0}, specs...)
	connect(t, c)
	return c
}

// tuneRunConfig is a RunConfig on a driver-local directory.
func tuneRunConfig(t *testing.T, name string) tune.RunConfig {
	return tune.RunConfig{Name: name, StoragePath: t.TempDir(), Quiet: true}
}

// whereOf reads a trial's where/ record: its node ID and pid.
func whereOf(t *testing.T, ctx context.Context, trialID string) (node string, pid int) {
	t.Helper()
	v, err := tuneKVGet(ctx, "where/"+trialID)
	if err != nil {
		t.Fatalf("trial %s recorded no node: %v", trialID, err)
	}
	node, p, _ := strings.Cut(v, " ")
	pid, _ = strconv.Atoi(p)
	return node, pid
}

func checkIterations(t *testing.T, tr *tune.TrialResult, want int) {
	t.Helper()
	if len(tr.History) != want {
		t.Errorf("trial %s has %d results, want %d", tr.ID, len(tr.History), want)
	}
	for i, r := range tr.History {
		if r.Iteration != i+1 {
			t.Errorf("trial %s: result %d has training_iteration %d (a gap or a repeat)", tr.ID, i, r.Iteration)
		}
	}
}

// A random search with ASHA over three nodes: trials run on several
// nodes, every trial ends TERMINATED, the best is the trial nearest the
// optimum, and the checkpoints made on the nodes are in the driver's
// StoragePath.
func TestTuneASHAAcrossNodes(t *testing.T) {
	c := startTuneCluster(t, 1, 1, 1)
	ctx := withTimeout(t, 50*time.Second)
	const samples = 10
	tn, err := tune.NewTuner(tuneCurve, tune.Space{"x": tune.Uniform(0, 1)},
		tune.TuneConfig{Metric: "score", Mode: tune.Max, NumSamples: samples, Seed: 7, ReuseActors: true,
			Scheduler: tune.ASHA(tune.ASHAConfig{MaxT: curveIters, GracePeriod: 1, ReductionFactor: 2})},
		tuneRunConfig(t, "asha"))
	if err != nil {
		t.Fatal(err)
	}
	grid, err := tn.Fit(ctx)
	if err != nil {
		t.Fatalf("Fit: %v", err)
	}
	if len(grid.Trials) != samples {
		t.Fatalf("%d trials, want %d", len(grid.Trials), samples)
	}
	nodes := map[string]int{}
	var want *tune.TrialResult
	for _, tr := range grid.Trials {
		if tr.State != tune.Terminated {
			t.Errorf("trial %s is %s (%v), want TERMINATED", tr.ID, tr.State, tr.Err)
			continue
		}
		checkIterations(t, tr, len(tr.History))
		node, _ := whereOf(t, ctx, tr.ID)
		nodes[node]++
		if node == c.HeadNodeID() {
			t.Errorf("trial %s ran on the head's node, which has no CPU", tr.ID)
		}
		if want == nil || abs64(tr.Params.Float("x")-curveTarget) < abs64(want.Params.Float("x")-curveTarget) {
			want = tr
		}
		// The latest checkpoint is on the driver's storage, under the
		// trial's directory, made on the trial's node.
		if tr.Checkpoint == nil {
			t.Errorf("trial %s has no checkpoint", tr.ID)
			continue
		}
		dir, err := tr.Checkpoint.Dir()
		if err != nil {
			t.Errorf("trial %s: %v", tr.ID, err)
			continue
		}
		if !strings.HasPrefix(dir, grid.Path+string(filepath.Separator)) {
			t.Errorf("trial %s's checkpoint %s is not under the experiment's %s", tr.ID, dir, grid.Path)
		}
		var st curveCkpt
		b, err := os.ReadFile(filepath.Join(dir, curveState))
		if err == nil {
			err = json.Unmarshal(b, &st)
		}
		if err != nil {
			t.Errorf("trial %s's stored checkpoint: %v", tr.ID, err)
			continue
		}
		if st.Node != node || st.Iteration != tr.Checkpoint.Iteration || st.Iteration != len(tr.History) {
			t.Errorf("trial %s's stored checkpoint says iteration %d on %s; want iteration %d (of %d results) on %s",
				tr.ID, st.Iteration, st.Node, tr.Checkpoint.Iteration, len(tr.History), node)
		}
	}
	if len(nodes) < 2 {
		t.Errorf("every trial ran on one node: %v", nodes)
	}
	stopped := 0
	for _, tr := range grid.Trials {
		if len(tr.History) < curveIters && slices.ContainsFunc(tr.Decisions, func(d tune.DecisionRecord) bool { return d.Action == "stop" }) {
			stopped++
		}
	}
	if stopped == 0 {
		t.Errorf("ASHA stopped no trial early")
	}
	best, err := grid.Best("score", tune.Max, tune.ScopeLast)
	if err != nil {
		t.Fatal(err)
	}
	if want != nil && best.ID != want.ID {
		t.Errorf("best trial %s (x=%v), want %s (x=%v, nearest %v)", best.ID, best.Params.Float("x"), want.ID, want.Params.Float("x"), curveTarget)
	}
	if want != nil && len(best.History) != curveIters {
		t.Errorf("the best trial ran %d iterations, want all %d (ASHA stopped it)", len(best.History), curveIters)
	}
	t.Logf("trials per node: %v; %d of %d stopped early by ASHA", nodes, stopped, samples)
}

// HyperBand pauses trials at their bracket's milestone and resumes the
// promoted ones from the directory checkpoint taken at the pause, in a new
// actor that may be on another node: their histories have no gap and
// their trainables saw the checkpoint.
func TestTuneHyperBandPauseResume(t *testing.T) {
	startTuneCluster(t, 1, 1, 1)
	ctx := withTimeout(t, 50*time.Second)
	// MaxT 6, η 2: bracket 0 takes 4 trials with no halving, bracket 1
	// the next 4 with a halving at iteration 3, which pauses the first
	// to get there since only 3 trials run at once.
	const samples, milestone = 8, 3
	tn, err := tune.NewTuner(tuneCurve, tune.Space{"x": tune.Uniform(0, 1)},
		tune.TuneConfig{Metric: "score", Mode: tune.Max, NumSamples: samples, Seed: 11,
			Scheduler: tune.HyperBand(tune.HyperBandConfig{MaxT: curveIters, ReductionFactor: 2})},
		tuneRunConfig(t, "hyperband"))
	if err != nil {
		t.Fatal(err)
	}
	grid, err := tn.Fit(ctx)
	if err != nil {
		t.Fatalf("Fit: %v", err)
	}
	if len(grid.Trials) != samples {
		t.Fatalf("%d trials, want %d", len(grid.Trials), samples)
	}
	paused, resumed, crossed := 0, 0, 0
	for _, tr := range grid.Trials {
		if tr.State != tune.Terminated {
			t.Errorf("trial %s is %s (%v), want TERMINATED", tr.ID, tr.State, tr.Err)
		}
		checkIterations(t, tr, len(tr.History))
		if !slices.ContainsFunc(tr.Decisions, func(d tune.DecisionRecord) bool { return d.Action == "pause" }) {
			continue
		}
		paused++
		if len(tr.History) <= milestone {
			continue // stopped by the halving while paused
		}
		resumed++
		for _, r := range tr.History {
			want := 0.0
			if r.Iteration > milestone {
				want = milestone
			}
			if got := r.Metrics["resumed_from"]; got != want {
				t.Errorf("trial %s: result %d says resumed_from %v, want %v", tr.ID, r.Iteration, got, want)
			}
		}
		v, err := tuneKVGet(ctx, fmt.Sprintf("resume/%s/%d", tr.ID, milestone))
		if err != nil {
			t.Errorf("trial %s: no record of its resume: %v", tr.ID, err)
			continue
		}
		from, to, _ := strings.Cut(v, " ")
		if from != to {
			crossed++
		}
	}
	if resumed == 0 {
		t.Fatalf("no trial was paused and resumed (%d paused)", paused)
	}
	t.Logf("%d trials paused, %d resumed from their checkpoint, %d of them on another node", paused, resumed, crossed)
}

func abs64(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// A node dies with SIGKILL under a running trial: with MaxFailures 2 the
// trial restarts from its last checkpoint, elsewhere, and finishes with
// no gap in its history; a trial that fails every time ends ERROR with its
// cause after 2 restarts; the other finishes untouched.
func TestTuneNodeFailureRestartsFromCheckpoint(t *testing.T) {
	c := startTuneCluster(t, 1, 1, 1)
	runFailures(t, c, func(ctx context.Context, node string, _ int) {
		var proc *testcluster.Proc
		for _, p := range c.NodeProcs() {
			if p.NodeID == node {
				proc = p
			}
		}
		if proc == nil {
			t.Fatalf("no node daemon runs node %s (the head's is %s)", node, c.HeadNodeID())
		}
		c.KillNode(t, proc)
	}, true)
}

// The same with only the trial's worker process killed with SIGKILL: its
// node lives on and may run the restarted trial.
func TestTuneWorkerKilledRestartsFromCheckpoint(t *testing.T) {
	c := startTuneCluster(t, 1, 1)
	runFailures(t, c, func(ctx context.Context, _ string, pid int) {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatalf("killing the victim's worker %d: %v", pid, err)
		}
	}, false)
}

// runFailures runs tuneResumable's three trials and kill()s the victim
// (trial "id" 0) after its third result; newNode says the victim's restart
// must run on another node.
func runFailures(t *testing.T, c *testcluster.Cluster, kill func(ctx context.Context, node string, pid int), newNode bool) {
	ctx := withTimeout(t, 50*time.Second)

	// The driver learns through Stop.Func (it runs in the driver, per
	// result) that the victim's third result and its checkpoint are
	// recorded.
	var once sync.Once
	recorded := make(chan struct{})
	rc := tuneRunConfig(t, "failures")
	rc.FailureConfig = tune.FailureConfig{MaxFailures: 2}
	rc.Stop.Func = func(_ string, r tune.Result) bool {
		if r.Metrics["id"] == 0 && r.Iteration == 3 && r.Checkpoint {
			once.Do(func() { close(recorded) })
		}
		return false
	}
	tn, err := tune.NewTuner(tuneResumable, tune.Space{"id": tune.GridSearch(0, 1, 2)},
		tune.TuneConfig{Metric: "score", Mode: tune.Max, Seed: 1}, rc)
	if err != nil {
		t.Fatal(err)
	}
	type fitOut struct {
		grid *tune.ResultGrid
		err  error
	}
	done := make(chan fitOut, 1)
	go func() {
		g, err := tn.Fit(ctx)
		done <- fitOut{g, err}
	}()

	// The victim announces itself after its third result, and the driver
	// has recorded that result and its checkpoint: kill the victim's node.
	select {
	case <-recorded:
	case <-ctx.Done():
		t.Fatal("the victim's third result never reached the driver")
	}
	var victim string
	c.WaitFor(t, 30*time.Second, func() bool {
		v, err := tuneKVGet(ctx, "victim")
		victim = v
		return err == nil
	}, "the victim trial to announce its node")
	node, p, _ := strings.Cut(victim, " ")
	pid, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("victim record %q: %v", victim, err)
	}
	kill(ctx, node, pid)

	out := <-done
	if out.err != nil {
		t.Fatalf("Fit: %v", out.err)
	}
	byID := map[int]*tune.TrialResult{}
	for _, tr := range out.grid.Trials {
		byID[tr.Params.Int("id")] = tr
	}
	if len(byID) != 3 {
		t.Fatalf("trials by id: %v", byID)
	}

	v := byID[0]
	if v.State != tune.Terminated {
		t.Fatalf("the victim %s is %s (%v), want TERMINATED", v.ID, v.State, v.Err)
	}
	if v.Failures != 1 {
		t.Errorf("the victim %s restarted %d times, want 1", v.ID, v.Failures)
	}
	checkIterations(t, v, resumableIters)
	// Its trainable resumed from its checkpoint of iteration 3.
	for _, r := range v.History {
		want := 0.0
		if r.Iteration > 3 {
			want = 3
		}
		if got := r.Metrics["resumed_from"]; got != want {
			t.Errorf("the victim's result %d says resumed_from %v, want %v", r.Iteration, got, want)
		}
	}
	againNode, againPid := whereOf(t, ctx, v.ID)
	if againPid == pid || (newNode && againNode == node) {
		t.Errorf("the victim restarted on node %s pid %d; it was killed on node %s pid %d", againNode, againPid, node, pid)
	}

	f := byID[2]
	if f.State != tune.Errored || f.Failures != 2 {
		t.Errorf("the failing trial %s: %s after %d restarts, want ERROR after 2", f.ID, f.State, f.Failures)
	}
	if !errors.Is(f.Err, tune.ErrTrialFailed) || !errors.Is(f.Err, errSentinel) {
		t.Errorf("the failing trial's error %v: want ErrTrialFailed wrapping its cause", f.Err)
	}
	checkIterations(t, f, 1)

	o := byID[1]
	if o.State != tune.Terminated {
		t.Errorf("trial %s is %s (%v), want TERMINATED", o.ID, o.State, o.Err)
	}
	checkIterations(t, o, resumableIters)
}

// PBT over a class trainable on the cluster: exploits are recorded with
// their source, and an exploiting trial resumes from its source's
// checkpoint (its w and the pid of the process that saved it).
func TestTunePBTClassExploits(t *testing.T) {
	startTuneCluster(t, 2, 2)
	ctx := withTimeout(t, 50*time.Second)
	const iters = 12
	rc := tuneRunConfig(t, "pbt")
	rc.Stop.Iterations = iters
	tn, err := tune.NewTuner(tunePBTModel, tune.Space{"lr": tune.GridSearch(0.1, 0.2, 0.5, 1.0)},
		tune.TuneConfig{Metric: "score", Mode: tune.Max, Seed: 3,
			Scheduler: tune.PBT(tune.PBTConfig{PerturbationInterval: 2, Seed: 3,
				HyperparamMutations: tune.Space{"lr": tune.Uniform(0.1, 1)}})},
		rc)
	if err != nil {
		t.Fatal(err)
	}
	grid, err := tn.Fit(ctx)
	if err != nil {
		t.Fatalf("Fit: %v", err)
	}
	if len(grid.Trials) != pbtPopulation {
		t.Fatalf("%d trials, want %d", len(grid.Trials), pbtPopulation)
	}
	byID := map[string]*tune.TrialResult{}
	for _, tr := range grid.Trials {
		byID[tr.ID] = tr
		if tr.State != tune.Terminated {
			t.Errorf("trial %s is %s (%v), want TERMINATED", tr.ID, tr.State, tr.Err)
		}
		checkIterations(t, tr, iters)
	}
	exploits := 0
	for _, tr := range grid.Trials {
		last := -1 // its last exploit: tr.Params are the Params it chose
		for i, d := range tr.Decisions {
			if d.Action == "exploit" {
				last = i
			}
		}
		for k, d := range tr.Decisions {
			if d.Action != "exploit" {
				continue
			}
			exploits++
			src := byID[d.Source]
			if src == nil || src.ID == tr.ID {
				t.Errorf("trial %s exploited %q, not another trial", tr.ID, d.Source)
				continue
			}
			i := slices.IndexFunc(tr.History, func(r tune.Result) bool { return r.Iteration > d.Iteration })
			if i < 0 {
				continue // exploited at its last result
			}
			after := tr.History[i].Metrics
			var ws, pids []float64
			for _, r := range src.History {
				ws = append(ws, r.Metrics["score"])
				pids = append(pids, r.Metrics["pid"])
			}
			if !slices.Contains(ws, after["loaded_w"]) || !slices.Contains(pids, after["loaded_pid"]) {
				t.Errorf("trial %s exploited %s at iteration %d, then resumed from w=%v saved by pid %v; %s had w %v in pids %v",
					tr.ID, src.ID, d.Iteration, after["loaded_w"], after["loaded_pid"], src.ID, ws, pids)
			}
			if got, want := after["score"], after["loaded_w"]+tr.Params.Float("lr"); k == last && abs64(got-want) > 1e-9 {
				t.Errorf("trial %s after its exploit: score %v, want the loaded %v plus its lr", tr.ID, got, after["loaded_w"])
			}
		}
	}
	if exploits == 0 {
		t.Fatal("PBT made no exploit")
	}
	t.Logf("%d exploits", exploits)
}

// A trial made of a SPREAD placement group of two bundles: its trainable
// (a function, then a class) runs a task in bundle 1, on the other node,
// and reports its result.
func TestTunePlacementGroupBundles(t *testing.T) {
	for _, tc := range []struct {
		name      string
		trainable *tune.Trainable
	}{{"function", tunePG}, {"class", tunePGClass}} {
		t.Run(tc.name, func(t *testing.T) { runPlacementGroupTrials(t, tc.trainable) })
	}
}

func runPlacementGroupTrials(t *testing.T, trainable *tune.Trainable) {
	startTuneCluster(t, 1, 1)
	ctx := withTimeout(t, 50*time.Second)
	pgTrainable := trainable.WithPlacementGroup(tune.PlacementGroupFactory{
		Bundles: []map[string]float64{{"CPU": 1}, {"CPU": 1}}, Strategy: rayo.SPREAD})
	tn, err := tune.NewTuner(pgTrainable, tune.Space{"x": tune.GridSearch(3, 4)},
		tune.TuneConfig{Metric: "square", Mode: tune.Max}, tuneRunConfig(t, "pg"))
	if err != nil {
		t.Fatal(err)
	}
	grid, err := tn.Fit(ctx)
	if err != nil {
		t.Fatalf("Fit: %v", err)
	}
	for _, tr := range grid.Trials {
		if tr.State != tune.Terminated || tr.Last == nil {
			t.Errorf("trial %s is %s (%v), want TERMINATED with a result", tr.ID, tr.State, tr.Err)
			continue
		}
		x := tr.Params.Int("x")
		if got := tr.Last.Metrics["square"]; got != float64(x*x) {
			t.Errorf("trial %s: square %v, want %d", tr.ID, got, x*x)
		}
		if got := tr.Last.Metrics["bundle"]; got != 1 {
			t.Errorf("trial %s: the task ran in bundle %v, want 1", tr.ID, got)
		}
		v, err := tuneKVGet(ctx, "pg/"+tr.ID)
		if err != nil {
			t.Fatal(err)
		}
		trialNode, taskNode, _ := strings.Cut(v, " ")
		if trialNode == taskNode {
			t.Errorf("trial %s: bundles 0 and 1 on one node %s despite SPREAD over two 1-CPU nodes", tr.ID, trialNode)
		}
	}
	if len(grid.Trials) != 2 {
		t.Errorf("%d trials, want 2", len(grid.Trials))
	}
}

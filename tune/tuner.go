package tune

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rayo-dev/rayo"
)

// Tuner runs an experiment (Ray's Tuner).
type Tuner struct {
	trainable *Trainable
	space     Space
	tc        TuneConfig
	rc        RunConfig
	params    []Param
	constants map[string]any
	// restore: the journal's events to replay, and how to treat its
	// unfinished and errored trials.
	restore *restoreState
	used    bool
}

// NewTuner checks everything it can before a trial runs: the trainable's
// registration, the space, the configs, the searcher's and scheduler's
// settings, and that StoragePath can be written. Each failure is a clear
// error (ErrNotRegistered, ErrInvalidSpace, ErrInvalidConfig, ErrStorage).
func NewTuner(trainable *Trainable, space Space, tc TuneConfig, rc RunConfig) (*Tuner, error) {
	if trainable == nil {
		return nil, fmt.Errorf("%w: no trainable", ErrInvalidConfig)
	}
	if trainable.err != nil {
		return nil, trainable.err
	}
	if _, err := lookupTrainable(trainable.name); err != nil {
		return nil, err
	}
	params, constants, err := space.Params()
	if err != nil {
		return nil, err
	}
	if err := tc.validate(); err != nil {
		return nil, err
	}
	if err := rc.validate(time.Now()); err != nil {
		return nil, err
	}
	if tc.SearchAlg == nil {
		tc.SearchAlg = BasicVariantGenerator(BasicConfig{})
	}
	if tc.Scheduler == nil {
		tc.Scheduler = FIFO()
	}
	if err := tc.SearchAlg.Setup(SearchConfig{Metric: tc.Metric, Mode: tc.Mode, Params: params, NumSamples: tc.NumSamples, Seed: tc.Seed}); err != nil {
		return nil, err
	}
	if err := tc.Scheduler.Setup(tc.Metric, tc.Mode); err != nil {
		return nil, err
	}
	if err := checkWritable(rc.StoragePath); err != nil {
		return nil, err
	}
	return &Tuner{trainable: trainable, space: space, tc: tc, rc: rc, params: params, constants: constants}, nil
}

// Path is the experiment's directory, StoragePath/Name.
func (tn *Tuner) Path() string { return filepath.Join(tn.rc.StoragePath, tn.rc.Name) }

// Fit runs the experiment to its end and returns every trial's outcome.
// A trial's failure is in its TrialResult, not in Fit's error; Fit fails
// for the experiment as a whole (storage, a searcher's error, FailFast, a
// cancelled ctx). On a cancelled ctx the experiment can be resumed with
// Restore, as after a crash of the driver.
func (tn *Tuner) Fit(ctx context.Context) (*ResultGrid, error) {
	if tn.used {
		return nil, fmt.Errorf("%w: a Tuner runs once; use Restore to continue an experiment", ErrInvalidConfig)
	}
	tn.used = true
	if !rayo.IsInitialized() {
		return nil, fmt.Errorf("%w: call rayo.Init before Fit", ErrInvalidConfig)
	}
	dir := tn.Path()
	r := &runner{tn: tn, dir: dir, params: tn.params, constants: tn.constants, trials: map[string]*trial{},
		borrowed: map[string]int{}, events: make(chan trialEvent), done: make(chan struct{}), started: time.Now()}
	if b, ok := tn.tc.SearchAlg.(interface{ Total() int }); ok {
		r.limit = b.Total()
	} else {
		r.limit = tn.tc.NumSamples
	}
	// Before anything is written: an infeasible trial leaves no
	// experiment behind.
	if err := r.computeCapacity(ctx); err != nil {
		return nil, err
	}
	if err := r.open(); err != nil {
		return nil, err
	}
	defer r.journal.close()
	if r.fatal != nil { // the replay found the searcher diverging
		return nil, r.fatal
	}
	r.reporter = tn.newReporter()
	runErr := r.run(ctx)
	close(r.done)
	r.bg.Wait()
	grid := r.grid()
	r.refreshFinal()
	if err := grid.writeSummaries(); err != nil && runErr == nil {
		runErr = err
	}
	return grid, runErr
}

// open creates the experiment's directory and journal, or replays the
// journal of the experiment being restored.
func (r *runner) open() error {
	tn := r.tn
	if tn.restore == nil {
		if _, err := os.Stat(filepath.Join(r.dir, journalFile)); err == nil {
			return fmt.Errorf("%w: experiment %s already exists: resume it with Restore or choose another Name", ErrInvalidConfig, r.dir)
		}
		if err := os.MkdirAll(r.dir, 0o700); err != nil {
			return fmt.Errorf("%w: %v", ErrStorage, err)
		}
		meta := tn.meta()
		if err := writeMeta(r.dir, meta); err != nil {
			return err
		}
	} else if err := r.replayJournal(); err != nil {
		return err
	} else if r.fatal != nil {
		return r.fatal // the replay found the searcher diverging: write nothing
	}
	j, err := openJournal(filepath.Join(r.dir, journalFile))
	if err != nil {
		return err
	}
	r.journal = j
	if tn.restore != nil {
		r.resumeTrials()
	}
	return nil
}

func (tn *Tuner) meta() *experimentMeta {
	return &experimentMeta{Version: 1, Name: tn.rc.Name, Trainable: tn.trainable.name, Metric: tn.tc.Metric, Mode: tn.tc.Mode,
		NumSamples: tn.tc.NumSamples, MaxConcurrentTrials: tn.tc.MaxConcurrentTrials, ReuseActors: tn.tc.ReuseActors,
		TimeBudget: tn.tc.TimeBudget, Seed: tn.tc.Seed, StopMetrics: tn.rc.Stop.Metrics, StopIterations: tn.rc.Stop.Iterations,
		StopTime: tn.rc.Stop.Time, SharedStorage: tn.rc.SharedStorage, Failure: tn.rc.FailureConfig, Checkpoint: tn.rc.CheckpointConfig, Started: time.Now()}
}

// trialRNG is the random stream that resolves trial i's configuration:
// derived from the seed and i, so a replay resolves it the same way.
func (r *runner) trialRNG(i int) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(r.tn.tc.Seed), uint64(i)+0x7475_6e65))
}

// computeCapacity finds how many trials may run at once, and fails now
// (not after a wait that never ends) when no node could hold one trial.
func (r *runner) computeCapacity(ctx context.Context) error {
	tr := r.tn.trainable
	nodes, err := rayo.Nodes(ctx)
	if err != nil {
		return err
	}
	total := map[string]float64{}
	fits := tr.pg != nil // bundles are checked one by one below
	for _, n := range nodes {
		if !n.Alive {
			continue
		}
		for k, v := range n.Resources {
			total[k] += v
		}
		if tr.pg == nil && covers(n.Resources, tr.resources.asMap()) {
			fits = true
		}
	}
	if tr.pg != nil {
		for i, b := range tr.pg.Bundles {
			ok := false
			for _, n := range nodes {
				ok = ok || (n.Alive && covers(n.Resources, b))
			}
			if !ok {
				return fmt.Errorf("%w: bundle %d %v fits on no node", ErrInfeasible, i, b)
			}
		}
	}
	if !fits {
		return fmt.Errorf("%w: a trial needs %v; no node has that much", ErrInfeasible, tr.resources.asMap())
	}
	capacity := math.MaxInt
	for k, v := range tr.demand() {
		if v > 0 {
			capacity = min(capacity, int(total[k]/v))
		}
	}
	if capacity == 0 {
		return fmt.Errorf("%w: a trial needs %v; the cluster has %v", ErrInfeasible, tr.demand(), total)
	}
	if capacity == math.MaxInt {
		capacity = 64 // trials that hold nothing: bounded all the same
	}
	if m := r.tn.tc.MaxConcurrentTrials; m > 0 {
		capacity = min(capacity, m)
	}
	r.capacity = capacity
	return nil
}

func covers(have, want map[string]float64) bool {
	for k, v := range want {
		if v > 0 && have[k] < v {
			return false
		}
	}
	return true
}

// grid builds the ResultGrid from the trials' state.
func (r *runner) grid() *ResultGrid {
	g := &ResultGrid{Path: r.dir, Metric: r.tn.tc.Metric, Mode: r.tn.tc.Mode}
	for _, t := range r.order {
		tr := &TrialResult{ID: t.id, Params: t.params, State: t.state, Err: t.err, History: t.history, Last: t.last(),
			Path: filepath.Join(r.dir, t.id), Failures: t.failures, Decisions: t.decisions}
		if t.ckpt != nil {
			tr.Checkpoint = storedCheckpoint(filepath.Join(r.dir, t.ckpt.path), t.ckpt.iteration, t.ckpt.dir)
			best := t.ckpt
			if a := r.tn.rc.CheckpointConfig.ScoreAttribute; a != "" {
				for i := range t.kept {
					c := &t.kept[i]
					if c.score != nil && (best.score == nil || r.tn.rc.CheckpointConfig.Order.Better(*c.score, *best.score)) {
						best = c
					}
				}
			}
			tr.BestCheckpoint = storedCheckpoint(filepath.Join(r.dir, best.path), best.iteration, best.dir)
		}
		if tr.State == Errored && tr.Err != nil && !errors.Is(tr.Err, ErrTrialFailed) && !errors.Is(tr.Err, ErrMissingMetric) {
			tr.Err = fmt.Errorf("%w: %w", ErrTrialFailed, tr.Err)
		}
		g.Trials = append(g.Trials, tr)
	}
	return g
}

// writeSummaries writes results.csv and results.json.
func (g *ResultGrid) writeSummaries() error {
	var csv, js strings.Builder
	if err := g.WriteCSV(&csv); err != nil {
		return err
	}
	if err := g.WriteJSON(&js); err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(g.Path, "results.csv"), []byte(csv.String())); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(g.Path, "results.json"), []byte(js.String()))
}

func writeParams(dir string, p Params) {
	if b, err := jsonMarshalParams(p); err == nil {
		_ = writeFileAtomic(filepath.Join(dir, "params.json"), b)
	}
}

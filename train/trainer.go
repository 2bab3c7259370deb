package train

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/collective"
	"github.com/rayo-dev/rayo/data"
)

// failureGrace is how long, after one rank fails, the others get to
// report how they ended, so that the rank at fault can be told from the
// ranks that only saw it go (a peer lost, a collective timed out).
const failureGrace = 5 * time.Second

// skewWarn is how many rounds one rank may report ahead of another
// before the driver warns: Report is collective, as in Ray.
const skewWarn = 3

// DataParallelTrainer runs a registered Go training loop on a group of
// workers (Ray's DataParallelTrainer).
type DataParallelTrainer struct {
	// Loop runs on every worker with LoopConfig.
	Loop       *Loop
	LoopConfig Config
	Scaling    ScalingConfig
	Run        RunConfig
	// Datasets are split across the workers with a streaming split; a
	// worker reads its share with DatasetShard.
	Datasets map[string]*data.Dataset
	// ResumeFromCheckpoint is where a new run starts (Ray's
	// resume_from_checkpoint): GetCheckpoint returns it until the run
	// saves its own.
	ResumeFromCheckpoint *Checkpoint
}

// Fit trains until every worker's loop returns, restarting the group
// from the latest checkpoint when a worker is lost (FailureConfig). The
// Result holds the metrics and checkpoints; its Error, also returned, is
// why training failed.
func (t *DataParallelTrainer) Fit(ctx context.Context) (*Result, error) {
	if t.Loop == nil {
		return failed(errorf(ErrNotRegistered, "DataParallelTrainer.Loop is nil"))
	}
	if t.Loop.err != nil {
		return failed(t.Loop.err)
	}
	return fit(ctx, plan{spec: workerSpec{Loop: t.Loop.name, Config: t.LoopConfig}, scaling: t.Scaling, run: t.Run,
		datasets: t.Datasets, resume: t.ResumeFromCheckpoint})
}

func failed(err error) (*Result, error) { return &Result{Error: err}, err }

// plan is what both trainers run.
type plan struct {
	spec     workerSpec
	scaling  ScalingConfig
	run      RunConfig
	datasets map[string]*data.Dataset
	resume   *Checkpoint
}

// restorePoint is the checkpoint an attempt starts from.
type restorePoint struct {
	dir  string
	next int // the first round the attempt reports
}

func fit(ctx context.Context, p plan) (*Result, error) {
	if err := p.scaling.validate(); err != nil {
		return failed(err)
	}
	if err := p.run.validate(); err != nil {
		return failed(err)
	}
	hook, trial, tuneResume, err := tuneTrial(ctx)
	if err != nil {
		return failed(err)
	}
	if trial != "" && p.run.Name == "" {
		p.run.Name = "train_" + trial
	}
	if p.resume == nil {
		p.resume = tuneResume
	}
	run, err := p.run.withDefaults(time.Now())
	if err != nil {
		return failed(err)
	}
	sc := p.scaling.withDefaults()
	for name, ds := range p.datasets {
		if ds == nil {
			return failed(errorf(ErrInvalidConfig, "dataset %q is nil", name))
		}
	}
	var restore *restorePoint
	if p.resume != nil {
		if st, err := os.Stat(p.resume.path); err != nil || !st.IsDir() {
			return failed(errorf(ErrStorage, "ResumeFromCheckpoint %s is not a directory", p.resume.path))
		}
		restore = &restorePoint{dir: p.resume.path}
	}
	dir := filepath.Join(run.StoragePath, run.Name)
	log := slog.Default().With("run", run.Name)
	st, err := openStorage(dir, run.Checkpoint, log)
	if err != nil {
		return failed(err)
	}
	st.onWrite = hook
	res := &Result{Path: dir}
	runID := newRunID()
	for attempt := 0; ; attempt++ {
		n, err := fitWorkers(ctx, sc)
		if err == nil {
			a := &attemptRun{plan: p, cfg: run, scaling: sc, dir: dir, runID: runID, number: attempt, st: st, restore: restore, log: log}
			err = a.start(ctx, n)
			res.WorldSize = a.size
		}
		if err == nil {
			break
		}
		if ctx.Err() != nil || !retryable(err) {
			res.Error = err
			break
		}
		res.Failures++
		if m := run.Failure.MaxFailures; m >= 0 && res.Failures > m {
			res.Error = fmt.Errorf("%w (FailureConfig.MaxFailures is %d): %w", ErrTooManyFailures, m, err)
			break
		}
		if err := st.drain(); err != nil {
			res.Error = err
			break
		}
		if l, ok := st.latest(); ok {
			restore = &restorePoint{dir: filepath.Join(dir, l.Checkpoint), next: l.Round + 1}
		}
		from := "the start"
		if restore != nil {
			from = restore.dir
		}
		log.Warn("train: worker group failed; restarting", "failures", res.Failures, "from", from, "err", err)
	}
	if err := st.close(); err != nil && res.Error == nil {
		res.Error = err
	}
	res.fill(st)
	return res, res.Error
}

// retryable says whether a failure restarts the group: a lost or hung
// worker does; a loop's own error, bad configuration and storage do not.
func retryable(err error) bool {
	return errors.Is(err, ErrWorkerLost) || errors.Is(err, ErrWorkerHung) || errors.Is(err, ErrPlacementTimeout)
}

func newRunID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "train-" + hex.EncodeToString(b)
}

// attemptRun is one start of the worker group.
type attemptRun struct {
	plan
	cfg     RunConfig
	scaling ScalingConfig
	dir     string
	runID   string
	number  int
	st      *storage
	restore *restorePoint
	log     *slog.Logger
	size    int
}

func (a *attemptRun) start(ctx context.Context, n int) error {
	pg, err := place(ctx, a.scaling, n)
	if err != nil {
		return err
	}
	spec := a.spec
	spec.Run, spec.Shared, spec.CollectiveTimeout = a.runID, a.cfg.SharedStorage, a.cfg.Failure.CollectiveTimeout
	g, err := startWorkers(ctx, pg, a.scaling.bundle(), spec)
	if err != nil {
		_ = rayo.RemovePlacementGroup(context.WithoutCancel(ctx), pg)
		return startError(err)
	}
	group := fmt.Sprintf("%s-a%d", a.runID, a.number)
	defer func() {
		g.kill(ctx)
		// Records of members that died before Close.
		_ = collective.DeleteGroup(context.WithoutCancel(ctx), group)
	}()
	n = len(g.workers)
	a.size = n
	ctxs := contexts(g.infos, Context{ExperimentName: a.cfg.Name, StoragePath: a.dir, Attempt: a.number, Group: group})

	shards := make([]map[string]*data.DataIterator, n)
	for r := range shards {
		shards[r] = map[string]*data.DataIterator{}
	}
	for name, ds := range a.datasets {
		its, err := ds.StreamingSplit(ctx, n, true)
		if err != nil {
			return fmt.Errorf("%w: splitting dataset %q: %w", ErrInvalidConfig, name, err)
		}
		defer func() { _ = rayo.Kill(context.WithoutCancel(ctx), its[0].Coordinator, true) }()
		for r := range its {
			shards[r][name] = its[r]
		}
	}
	var restoreRefs []rayo.ObjectRef[[]byte]
	first := 0
	if a.restore != nil {
		b, err := packDir(a.restore.dir)
		if err != nil {
			return errorf(ErrStorage, "reading checkpoint %s: %v", a.restore.dir, err)
		}
		ref, err := rayo.Put(ctx, b)
		if err != nil {
			return err
		}
		restoreRefs, first = []rayo.ObjectRef[[]byte]{ref}, a.restore.next
	}
	master := ""
	if a.spec.Torch != nil {
		port, err := workerPortM.Remote(g.workers[0], g.infos[0].Host).Get(ctx)
		if err != nil {
			return startError(err)
		}
		master = fmt.Sprintf("%s:%d", g.infos[0].Host, port)
	}
	for r, h := range g.workers {
		args := startArgs{Ctx: ctxs[r], Restore: restoreRefs, Round: first, Shards: shards[r], Master: master}
		if _, err := workerStartM.Remote(h, args).Get(ctx); err != nil {
			return startError(err)
		}
	}
	a.log.Info("train: worker group started", "attempt", a.number, "workers", n, "nodes", ctxs[0].NumNodes)
	return a.monitor(ctx, g, first)
}

// startError classifies a failure to build the group: a constructor
// that failed repeats, a process or node that died does not.
func startError(err error) error {
	if errors.Is(err, rayo.ErrConstructorFailed) || errors.Is(err, ErrNotRegistered) || errors.Is(err, ErrStorage) {
		return &WorkerError{Rank: -1, Kind: ErrWorkerFailed, Message: err.Error(), Err: err}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return &WorkerError{Rank: -1, Kind: ErrWorkerLost, Message: err.Error(), Err: err}
}

// rankEvent is an event of one rank, its poll's failure, or (polled set)
// the news that a poll begun then has delivered its events.
type rankEvent struct {
	rank   int
	ev     event
	err    error
	polled time.Time
}

// roundAcc collects one round's reports.
type roundAcc struct {
	ranks   int
	metrics Config
	metRank int // the rank whose metrics these are (the lowest)
	parts   [][]byte
	staged  bool
}

// monitor collects the workers' reports until they all finish or one
// fails.
func (a *attemptRun) monitor(ctx context.Context, g *group, first int) error {
	n := len(g.workers)
	pctx, cancel := context.WithCancel(ctx)
	events := make(chan rankEvent)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	for r, h := range g.workers {
		wg.Go(func() {
			send := func(re rankEvent) bool {
				select {
				case events <- re:
					return true
				case <-pctx.Done():
					return false
				}
			}
			have := 0 // events received from this worker, ever
			for {
				started := time.Now()
				rep, err := workerPollM.Remote(h, have).Get(pctx)
				if pctx.Err() != nil {
					return
				}
				if err != nil {
					send(rankEvent{rank: r, err: err})
					return
				}
				for i, ev := range rep.Events {
					if rep.First+i <= have {
						continue // sent again: not yet acknowledged when asked
					}
					if !send(rankEvent{rank: r, ev: ev}) || ev.Done {
						return
					}
					have = rep.First + i
				}
				// Everything the worker handed over before started is in.
				if !send(rankEvent{rank: r, polled: started}) {
					return
				}
			}
		})
	}

	rounds := map[int]*roundAcc{}
	next := first // the next round to complete
	finished := map[int]*failure{}
	lost := map[int]error{}
	reports := make([]int, n) // rounds reported, by rank
	warned := false
	var grace <-chan time.Time
	complete := func(r int, acc *roundAcc) {
		a.st.submit(roundJob{rep: Reported{Round: r, Attempt: a.number, WorldSize: n, Metrics: acc.metrics, Time: time.Now()},
			parts: acc.parts, staged: acc.staged})
		delete(rounds, r)
	}
	// After a loss, the live ranks' reports already handed over (their
	// Report returned) are still on their way: wait for a poll of each
	// begun after the loss, or its end, so that none is dropped.
	var lostAt time.Time
	lastPoll := make([]time.Time, n)
	var order []int // ranks in the order they finished
	settled := func() bool {
		if len(finished)+len(lost) == n {
			return true
		}
		if lostAt.IsZero() {
			return false
		}
		for r := range n {
			_, f := finished[r]
			_, l := lost[r]
			if !f && !l && !lastPoll[r].After(lostAt) {
				return false
			}
		}
		return true
	}
	markLost := func() {
		if lostAt.IsZero() {
			lostAt = time.Now()
			grace = time.After(failureGrace)
		}
	}
loop:
	for !settled() {
		select {
		case re := <-events:
			switch {
			case !re.polled.IsZero():
				lastPoll[re.rank] = re.polled
			case re.err != nil:
				lost[re.rank] = re.err
				markLost()
			case re.ev.Done:
				finished[re.rank] = re.ev.Fail
				order = append(order, re.rank)
				if f := re.ev.Fail; f != nil && f.Lost {
					markLost()
				} else if f != nil && grace == nil {
					grace = time.After(failureGrace)
				}
			default:
				ev := re.ev
				acc := rounds[ev.Round]
				if acc == nil {
					acc = &roundAcc{metRank: n}
					rounds[ev.Round] = acc
				}
				acc.ranks++
				reports[re.rank]++
				if lo, hi := slices.Min(reports), slices.Max(reports); hi-lo >= skewWarn && !warned {
					warned = true
					a.log.Warn("train: ranks are reporting unevenly; every rank must call Report each round, or rounds (and their checkpoints) complete only when the loop ends",
						"ahead", slices.Index(reports, hi), "rounds", hi, "behind", slices.Index(reports, lo), "rounds_behind", lo)
				}
				if re.rank < acc.metRank {
					acc.metrics, acc.metRank = ev.Metrics, re.rank
				}
				if len(ev.Checkpoint) > 0 {
					acc.parts = append(acc.parts, ev.Checkpoint)
				}
				acc.staged = acc.staged || ev.Staged
				for acc := rounds[next]; acc != nil && acc.ranks == n; acc = rounds[next] {
					complete(next, acc)
					next++
				}
			}
		case <-grace:
			break loop
		case <-a.st.waitFailed():
			return a.st.drain()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := classify(n, finished, lost, order); err != nil {
		return err
	}
	// Every rank finished: rounds some ranks did not report still count
	// (rank 0's metrics, or the lowest rank's).
	keys := make([]int, 0, len(rounds))
	for r := range rounds {
		keys = append(keys, r)
	}
	slices.Sort(keys)
	for _, r := range keys {
		complete(r, rounds[r])
	}
	return nil
}

// classify names the failure of an attempt from how each rank ended
// (order: the ranks that finished, first first): a lost worker first (the
// others' errors are its echoes), then the first rank that failed on its
// own (an error or a panic, not a peer lost or a collective that timed
// out), then a rank the others timed out waiting for while it had not
// ended, then echoes alone.
func classify(n int, finished map[int]*failure, lost map[int]error, order []int) error {
	for r := range n {
		if err, ok := lost[r]; ok {
			return &WorkerError{Rank: r, Kind: ErrWorkerLost, Message: err.Error(), Err: err}
		}
	}
	for _, r := range order {
		if f := finished[r]; f != nil && f.Lost {
			return &WorkerError{Rank: r, Kind: ErrWorkerLost, Message: f.Message, Stack: f.Stack}
		}
	}
	echo := func(f *failure) bool { return f.PeerLost || f.Timeout }
	for _, r := range order {
		if f := finished[r]; f != nil && !echo(f) {
			return &WorkerError{Rank: r, Kind: ErrWorkerFailed, Message: f.Message, Stack: f.Stack}
		}
	}
	running := func(r int) bool { _, done := finished[r]; return !done }
	var waiting, hung []int
	for r := range n {
		if f := finished[r]; f != nil && f.Timeout {
			waiting = append(waiting, r)
			if w := f.WaitedOn; w >= 0 && w < n && running(w) && !slices.Contains(hung, w) {
				hung = append(hung, w)
			}
		}
	}
	if len(waiting) > 0 && len(hung) == 0 {
		for r := range n {
			if running(r) {
				hung = append(hung, r)
			}
		}
	}
	if len(hung) > 0 {
		slices.Sort(hung)
		return &WorkerError{Rank: hung[0], Kind: ErrWorkerHung,
			Message: fmt.Sprintf("rank %d did not take part in a collective within its timeout; ranks %v timed out waiting", hung[0], waiting)}
	}
	// Only echoes: a peer went away (or a collective timed out) though no
	// rank failed. When every other rank finished cleanly, the loop ran
	// different collectives on different ranks: a bug, not a loss.
	for _, r := range order {
		f := finished[r]
		if f == nil {
			continue
		}
		clean := true
		for q := range n {
			if g, done := finished[q]; q != r && (!done || g != nil) {
				clean = false
			}
		}
		if clean {
			return &WorkerError{Rank: r, Kind: ErrWorkerFailed, Message: f.Message + " (the other ranks had finished: do all ranks run the same collectives?)", Stack: f.Stack}
		}
		return &WorkerError{Rank: r, Kind: ErrWorkerLost, Message: f.Message, Stack: f.Stack}
	}
	for r := range n {
		if running(r) {
			return &WorkerError{Rank: r, Kind: ErrWorkerHung, Message: fmt.Sprintf("rank %d did not finish", r)}
		}
	}
	return nil
}

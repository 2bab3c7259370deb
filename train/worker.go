package train

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/collective"
	"github.com/rayo-dev/rayo/data"
)

// A training worker is an actor: the driver creates one per bundle of the
// group's placement group, asks where it landed (info), gives it its rank
// (start), and long-polls it for what its loop reports (poll) until the
// loop ends. A Report waits for the poll that takes it (a round trip on
// an open call), so at most one report per worker is in memory at once.

// pollWait is how long a poll waits for an event before it returns
// empty.
const pollWait = time.Second

// workerSpec is what every worker of a run is built with.
type workerSpec struct {
	Run               string        `msgpack:"run"`
	Loop              string        `msgpack:"loop"`  // a registered loop, or "" with Torch
	Config            Config        `msgpack:"cfg"`   // the loop's config
	Torch             *torchSpec    `msgpack:"torch"` // a script to run instead of a loop
	Shared            bool          `msgpack:"shared"`
	CollectiveTimeout time.Duration `msgpack:"ct"`
}

// workerInfo says where a worker landed.
type workerInfo struct {
	NodeID string `msgpack:"node"`
	Host   string `msgpack:"host"`
	GPUIDs []int  `msgpack:"gpus"`
	Pid    int    `msgpack:"pid"`
}

// startArgs gives a worker its rank and what it starts from.
type startArgs struct {
	Ctx     Context                       `msgpack:"ctx"`
	Restore []rayo.ObjectRef[[]byte]      `msgpack:"restore"` // zero or one packed checkpoint
	Round   int                           `msgpack:"round"`   // the first Report's round
	Shards  map[string]*data.DataIterator `msgpack:"shards"`
	Master  string                        `msgpack:"master"` // rank 0's host:port, for torch
}

// event is a report, or the end of the loop.
type event struct {
	Round      int            `msgpack:"r"`
	Metrics    map[string]any `msgpack:"m"`
	Checkpoint []byte         `msgpack:"c"` // packed files, sent through the object store
	Staged     bool           `msgpack:"s"` // files written to shared storage instead
	Done       bool           `msgpack:"d"`
	Fail       *failure       `msgpack:"f"` // with Done: how the loop failed
}

// failure is a loop's error as the driver needs it.
type failure struct {
	Message string `msgpack:"m"`
	Stack   string `msgpack:"s"`
	// Timeout marks a collective that waited too long; WaitedOn the rank
	// it waited on (-1 unknown).
	Timeout  bool `msgpack:"t"`
	WaitedOn int  `msgpack:"w"`
	// PeerLost marks a collective whose peer went away: a symptom of
	// another rank's failure.
	PeerLost bool `msgpack:"p"`
	// Lost marks a script killed by a signal (the OOM killer, kill -9):
	// a lost worker, as if its actor had died.
	Lost bool `msgpack:"l"`
}

// pollReply holds the events from sequence First on.
type pollReply struct {
	Events []event `msgpack:"e"`
	First  int     `msgpack:"f"`
}

type worker struct {
	spec    workerSpec
	scratch string // a private directory for restored checkpoints

	mu      sync.Mutex
	changed chan struct{} // closed and replaced when events or state change
	events  []event       // not yet acknowledged; events[i] has sequence acked+i+1
	pushed  int           // events queued, ever
	acked   int           // events the driver has acknowledged having, ever
	started bool
	cancel  context.CancelFunc // ends the loop's ctx
	done    chan struct{}      // closed when the loop has returned and cleaned up
}

var workerType = rayo.RegisterActor[worker]("rayo.train.worker", newWorker)

var (
	workerInfoM  = rayo.RegisterMethod[workerInfo](workerType, "info", (*worker).info)
	workerStartM = rayo.RegisterMethod[struct{}](workerType, "start", (*worker).start)
	workerPollM  = rayo.RegisterMethod[pollReply](workerType, "poll", (*worker).poll)
	workerPortM  = rayo.RegisterMethod[int](workerType, "port", (*worker).freePort)
	workerStopM  = rayo.RegisterMethod[struct{}](workerType, "stop", (*worker).stop)
)

func newWorker(spec workerSpec) (*worker, error) {
	if spec.Torch == nil {
		if _, err := lookupLoop(spec.Loop); err != nil {
			return nil, err
		}
	}
	removeStaleScratch()
	dir, err := os.MkdirTemp("", fmt.Sprintf("%s%d-", scratchPrefix, os.Getpid()))
	if err != nil {
		return nil, err
	}
	return &worker{spec: spec, scratch: dir, changed: make(chan struct{}), done: make(chan struct{})}, nil
}

// scratchPrefix names workers' private directories: rayo-train-<pid>-*.
// A worker killed with its group (the usual end of an attempt) cannot
// remove its own, so each new worker removes those of processes that are
// gone.
const scratchPrefix = "rayo-train-"

func removeStaleScratch() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), scratchPrefix+"*-*"))
	for _, d := range dirs {
		pidText, _, _ := strings.Cut(strings.TrimPrefix(filepath.Base(d), scratchPrefix), "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			_ = os.RemoveAll(d)
		}
	}
}

func (w *worker) info(ctx context.Context) (workerInfo, error) {
	rc, err := rayo.GetRuntimeContext(ctx)
	if err != nil {
		return workerInfo{}, err
	}
	info := workerInfo{NodeID: rc.NodeID, GPUIDs: rc.GPUIDs, Pid: os.Getpid(), Host: "127.0.0.1"}
	nodes, err := rayo.Nodes(ctx)
	if err != nil {
		return workerInfo{}, err
	}
	for _, n := range nodes {
		if n.NodeID == rc.NodeID {
			if host, _, err := net.SplitHostPort(n.Address); err == nil && host != "" {
				info.Host = host
			}
		}
	}
	return info, nil
}

// freePort picks a free TCP port on the worker's host for torch's
// rendezvous (MASTER_PORT), as torchrun does: closed again at once, so
// another process could take it first (rare; the attempt then fails and
// is retried).
func (w *worker) freePort(_ context.Context, host string) (int, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// start runs the loop in the background: the call returns at once, and
// the loop's progress comes back through poll. Its ctx keeps the call's
// values (the task context, for GetRuntimeContext and GPU IDs) but not
// its end.
func (w *worker) start(callCtx context.Context, args startArgs) (struct{}, error) {
	w.mu.Lock()
	if w.started {
		w.mu.Unlock()
		return struct{}{}, errorf(ErrInvalidConfig, "worker started twice")
	}
	w.started = true
	w.mu.Unlock()
	s := &session{w: w, info: args.Ctx, shards: args.Shards, round: args.Round}
	if len(args.Restore) > 0 {
		b, err := args.Restore[0].Get(callCtx)
		if err != nil {
			return struct{}{}, fmt.Errorf("%w: fetching the checkpoint to restore: %w", ErrStorage, err)
		}
		s.restore = b
	}
	ctx, cancel := context.WithCancel(context.WithValue(context.WithoutCancel(callCtx), sessionKey{}, s))
	w.mu.Lock()
	w.cancel = cancel
	w.mu.Unlock()
	go func() {
		defer close(w.done)
		defer cancel()
		err := w.run(ctx, s, args)
		s.close()
		_ = os.RemoveAll(w.scratch)
		ev := event{Done: true}
		if err != nil {
			ev.Fail = describe(err)
		}
		w.mu.Lock()
		w.events = append(w.events, ev)
		w.pushed++
		w.notifyLocked()
		w.mu.Unlock()
	}()
	return struct{}{}, nil
}

// run runs the loop or the script, a panic becoming an error with its
// stack.
func (w *worker) run(ctx context.Context, s *session, args startArgs) (err error) {
	if w.spec.Torch != nil {
		return runTorch(ctx, w.spec, s, args.Master)
	}
	fn, err := lookupLoop(w.spec.Loop)
	if err != nil {
		return err
	}
	defer func() {
		if r := recover(); r != nil {
			err = &panicError{value: r, stack: string(debug.Stack())}
		}
	}()
	return fn(ctx, w.spec.Config)
}

type panicError struct {
	value any
	stack string
}

func (e *panicError) Error() string { return fmt.Sprintf("panic: %v", e.value) }

// describe turns the loop's error into what the driver needs.
func describe(err error) *failure {
	f := &failure{Message: err.Error(), WaitedOn: -1}
	var p *panicError
	if errors.As(err, &p) {
		f.Stack = p.stack
	}
	var re *collective.RankError
	switch {
	case errors.Is(err, collective.ErrTimeout):
		f.Timeout = true
		if errors.As(err, &re) {
			f.WaitedOn = re.Rank
		}
	case errors.Is(err, collective.ErrPeerLost):
		f.PeerLost = true
	}
	describeScript(err, f)
	return f
}

// push hands a report to the driver: it returns once the driver has
// acknowledged it (its next poll says so), so a report that returned is
// the driver's even if this process dies next, checkpoint included.
func (w *worker) push(ctx context.Context, ev event) error {
	w.mu.Lock()
	w.events = append(w.events, ev)
	w.pushed++
	mine := w.pushed
	w.notifyLocked()
	for w.acked < mine {
		ch := w.changed
		w.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		w.mu.Lock()
	}
	w.mu.Unlock()
	return nil
}

func (w *worker) notifyLocked() {
	close(w.changed)
	w.changed = make(chan struct{})
}

// poll acknowledges the events the driver has (ack: how many, ever) and
// returns those after them, waiting up to pollWait for one. An event is
// sent again until acknowledged; the driver skips what it has.
func (w *worker) poll(ctx context.Context, ack int) (pollReply, error) {
	t := time.NewTimer(pollWait)
	defer t.Stop()
	w.mu.Lock()
	if n := min(ack, w.pushed) - w.acked; n > 0 {
		w.events = w.events[n:]
		w.acked += n
		w.notifyLocked()
	}
	for {
		if len(w.events) > 0 {
			evs := slices.Clone(w.events)
			first := w.acked + 1
			w.mu.Unlock()
			return pollReply{Events: evs, First: first}, nil
		}
		ch := w.changed
		w.mu.Unlock()
		select {
		case <-ch:
		case <-t.C:
			return pollReply{First: w.ackedNow() + 1}, nil
		case <-ctx.Done():
			return pollReply{}, ctx.Err()
		}
		w.mu.Lock()
	}
}

func (w *worker) ackedNow() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.acked
}

// stop ends the loop (its ctx; a script gets SIGTERM, then SIGKILL, its
// process group with it) and waits for it to return and clean up, or for
// ctx: called before the group's actors are killed, so that nothing the
// loop started outlives it.
func (w *worker) stop(ctx context.Context) (struct{}, error) {
	w.mu.Lock()
	cancel, started := w.cancel, w.started
	w.mu.Unlock()
	if !started || cancel == nil {
		_ = os.RemoveAll(w.scratch)
		return struct{}{}, nil
	}
	cancel()
	select {
	case <-w.done:
	case <-ctx.Done():
	}
	return struct{}{}, nil
}

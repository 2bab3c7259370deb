package rayo_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rayo-dev/rayo"
)

// Grouped is an actor whose default group can be kept busy: Block runs
// until Release (in the "health" group) or until its ctx is cancelled.
type Grouped struct {
	mu      sync.Mutex
	started chan struct{} // closed when a Block call first runs
	release chan struct{}
	once    sync.Once
	blocks  int
	flaky   int
	child   rayo.ObjectRef[int] // the task Spawn submitted
}

func (g *Grouped) Block(ctx context.Context) (int, error) {
	g.mu.Lock()
	g.blocks++
	n := g.blocks
	g.mu.Unlock()
	g.once.Do(func() { close(g.started) })
	select {
	case <-g.release:
		return n, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// Flaky fails its first failures calls, then returns how many calls it
// took.
func (g *Grouped) Flaky(failures int) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.flaky++
	if g.flaky <= failures {
		return 0, fmt.Errorf("attempt %d fails", g.flaky)
	}
	return g.flaky, nil
}

// Spawn submits a long task and keeps its ref, releases the actor
// signal (so that the test knows), and waits for its own ctx.
func (g *Grouped) Spawn(ctx context.Context, signal rayo.ActorHandle[Grouped]) (int, error) {
	g.mu.Lock()
	g.child = tSleep.Remote(600_000)
	g.mu.Unlock()
	if _, err := gRelease.Remote(signal).Get(ctx); err != nil {
		return 0, err
	}
	<-ctx.Done()
	return 0, ctx.Err()
}

// Child reports how the task Spawn submitted ended.
func (g *Grouped) Child(ctx context.Context) (string, error) {
	g.mu.Lock()
	child := g.child
	g.mu.Unlock()
	_, err := child.Get(ctx)
	if errors.Is(err, rayo.ErrTaskCancelled) {
		return "cancelled", nil
	}
	return fmt.Sprint(err), nil
}

var (
	groupedActor = rayo.RegisterActor[Grouped]("test.Grouped", func() *Grouped {
		return &Grouped{started: make(chan struct{}), release: make(chan struct{})}
	})
	gBlock = rayo.RegisterMethod[int](groupedActor, "Block", (*Grouped).Block)
	gPing  = rayo.RegisterMethod[int](groupedActor, "Ping", func(g *Grouped, x int) int { return x })
	gFlaky = rayo.RegisterMethod[int](groupedActor, "Flaky", (*Grouped).Flaky)
	gSpawn = rayo.RegisterMethod[int](groupedActor, "Spawn", (*Grouped).Spawn)
	// Hang ignores its ctx: only Release (or the process's end) ends it.
	gHang = rayo.RegisterMethod[int](groupedActor, "Hang", func(g *Grouped) int {
		g.once.Do(func() { close(g.started) })
		<-g.release
		return 1
	})
	gPid = rayo.RegisterMethod[int](groupedActor, "Pid", func(g *Grouped) int { return os.Getpid() },
		rayo.ConcurrencyGroup("health"))
	gChild = rayo.RegisterMethod[string](groupedActor, "Child", (*Grouped).Child)
	// Methods of the "health" group, as Ray's @ray.method(concurrency_group=...).
	gHealth = rayo.RegisterMethod[string](groupedActor, "Health", func(g *Grouped) string { return "ok" },
		rayo.ConcurrencyGroup("health"))
	gStarted = rayo.RegisterMethod[bool](groupedActor, "Started", func(g *Grouped, ctx context.Context) (bool, error) {
		select {
		case <-g.started:
			return true, nil
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}, rayo.ConcurrencyGroup("health"))
	gRelease = rayo.RegisterMethod[bool](groupedActor, "Release", func(g *Grouped) bool { close(g.release); return true },
		rayo.ConcurrencyGroup("health"))

	// tCancelRef cancels the actor call whose ref it was passed (nested, so
	// it arrives as a ref): a cancel from a process that is not the
	// call's owner. It reports whether Cancel failed with ErrInvalidOption.
	tCancelRef = rayo.Register[string]("test.cancelRef", func(box intBox, force bool) string {
		err := rayo.Cancel(box.Ref, force)
		switch {
		case err == nil:
			return "ok"
		case errors.Is(err, rayo.ErrInvalidOption):
			return "invalid"
		}
		return err.Error()
	})
)

// tCallBlock calls Block on the actor it is given and waits for it.
var tCallBlock = rayo.Register[int]("test.callBlock", func(ctx context.Context, a rayo.ActorHandle[Grouped]) (int, error) {
	return gBlock.Remote(a).Get(ctx)
})

type intBox struct{ Ref rayo.ObjectRef[int] }

func newGrouped(t *testing.T, ctx context.Context) rayo.ActorHandle[Grouped] {
	t.Helper()
	a, err := groupedActor.Options(rayo.ConcurrencyGroups(map[string]int{"health": 1, "io": 2})).New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// The point of concurrency groups: with the default group busy (limit 1,
// a call blocked), a call in another group is still answered.
func TestActorConcurrencyGroups(t *testing.T) {
	ctx := initEmbedded(t)
	a := newGrouped(t, ctx)
	b1 := gBlock.Remote(a)
	b2 := gBlock.Remote(a) // queued behind b1 in the default group
	if ok, err := gStarted.Remote(a).Get(ctx); err != nil || !ok {
		t.Fatalf("Started: %v, %v", ok, err)
	}
	if s, err := gHealth.Remote(a).Get(ctx); err != nil || s != "ok" {
		t.Fatalf("a health-group call while the default group is busy: %q, %v", s, err)
	}
	// Per call: a default-group method sent to another group.
	if v, err := gPing.Options(rayo.ConcurrencyGroup("io")).Remote(a, 7).Get(ctx); err != nil || v != 7 {
		t.Fatalf("Ping in the io group: %v, %v", v, err)
	}
	// A group the actor lacks fails the call (typed, from the actor's
	// worker), and does not wait behind the busy group.
	if _, err := gPing.Options(rayo.ConcurrencyGroup("nope")).Remote(a, 1).Get(ctx); !errors.Is(err, rayo.ErrInvalidOption) {
		t.Fatalf("unknown group: %v, want ErrInvalidOption", err)
	}
	// DefaultConcurrencyGroup sends a health-group method to the default
	// group: it waits behind b1 and b2 (ordered within the group).
	late := gHealth.Options(rayo.ConcurrencyGroup(rayo.DefaultConcurrencyGroup)).Remote(a)
	if _, err := gRelease.Remote(a).Get(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := rayo.GetAll(ctx, []rayo.ObjectRef[int]{b1, b2})
	if err != nil || got[0] != 1 || got[1] != 2 {
		t.Fatalf("blocked calls after release: %v, %v; want [1 2] (in order)", got, err)
	}
	if s, err := late.Get(ctx); err != nil || s != "ok" {
		t.Fatalf("health method in the default group: %q, %v", s, err)
	}
}

func TestActorCallOptionsRefused(t *testing.T) {
	ctx := initEmbedded(t)
	for name, groups := range map[string]map[string]int{
		"empty name":   {"": 1},
		"default name": {rayo.DefaultConcurrencyGroup: 2},
		"zero limit":   {"io": 0},
		"negative":     {"io": -1},
	} {
		if _, err := groupedActor.Options(rayo.ConcurrencyGroups(groups)).New(ctx); !errors.Is(err, rayo.ErrInvalidOption) {
			t.Errorf("ConcurrencyGroups %s: %v, want ErrInvalidOption", name, err)
		}
	}
	if _, err := groupedActor.Options(rayo.ConcurrencyGroup("io")).New(ctx); !errors.Is(err, rayo.ErrInvalidOption) {
		t.Errorf("ConcurrencyGroup on New: %v, want ErrInvalidOption", err)
	}
	if _, err := tAdd.Options(rayo.ConcurrencyGroup("io")).Remote(1, 2).Get(ctx); !errors.Is(err, rayo.ErrInvalidOption) {
		t.Errorf("ConcurrencyGroup on a task: %v, want ErrInvalidOption", err)
	}
	a := newGrouped(t, ctx)
	for name, opt := range map[string]rayo.Option{
		"NumCPUs":           rayo.NumCPUs(1),
		"Resources":         rayo.Resources(map[string]float64{"x": 1}),
		"Spread":            rayo.Spread(),
		"Detached":          rayo.Detached(),
		"MaxRetries":        rayo.MaxRetries(1),
		"MaxConcurrency":    rayo.MaxConcurrency(2),
		"ConcurrencyGroups": rayo.ConcurrencyGroups(map[string]int{"x": 1}),
		"empty group":       rayo.ConcurrencyGroup(""),
		"MaxTaskRetries -2": rayo.MaxTaskRetries(-2),
	} {
		m := gPing.Options(rayo.Name("fine"), opt)
		if _, err := m.Remote(a, 1).Get(ctx); !errors.Is(err, rayo.ErrInvalidOption) {
			t.Errorf("Method.Options(%s): %v, want ErrInvalidOption", name, err)
		}
		// A copy of the copy keeps the refusal.
		if _, err := m.Options(rayo.Name("x")).Remote(a, 1).Get(ctx); !errors.Is(err, rayo.ErrInvalidOption) {
			t.Errorf("Method.Options(%s).Options(Name): %v, want ErrInvalidOption", name, err)
		}
	}
	// The method itself is unchanged.
	if v, err := gPing.Remote(a, 3).Get(ctx); err != nil || v != 3 {
		t.Fatalf("Ping: %v, %v", v, err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("RegisterMethod with NumCPUs did not panic")
			}
		}()
		rayo.RegisterMethod[int](groupedActor, "BadOption", func(g *Grouped) int { return 0 }, rayo.NumCPUs(1))
	}()
}

func TestActorCallNameAndRetryExceptions(t *testing.T) {
	ctx := initEmbedded(t)
	a := newGrouped(t, ctx)
	// Name is the call's name in its error.
	_, err := gFlaky.Options(rayo.Name("flaky-call")).Remote(a, 1).Get(ctx)
	var te *rayo.TaskError
	if !errors.As(err, &te) || te.TaskName != "flaky-call" || !errors.Is(err, rayo.ErrTaskFailed) {
		t.Fatalf("named call's error: %v (name %q)", err, taskName(te))
	}
	// The actor's MaxTaskRetries is 0: an application error is final,
	// even with RetryExceptions.
	b := newGrouped(t, ctx)
	if _, err := gFlaky.Options(rayo.RetryExceptions(true)).Remote(b, 1).Get(ctx); !errors.Is(err, rayo.ErrTaskFailed) {
		t.Fatalf("RetryExceptions without retries: %v", err)
	}
	// Per call: RetryExceptions within MaxTaskRetries.
	c := newGrouped(t, ctx)
	v, err := gFlaky.Options(rayo.RetryExceptions(true), rayo.MaxTaskRetries(2)).Remote(c, 2).Get(ctx)
	if err != nil || v != 3 {
		t.Fatalf("retried: %v, %v; want success on attempt 3", v, err)
	}
	d := newGrouped(t, ctx)
	_, err = gFlaky.Options(rayo.RetryExceptions(true), rayo.MaxTaskRetries(1)).Remote(d, 2).Get(ctx)
	if !errors.As(err, &te) || te.Message != "attempt 2 fails" {
		t.Fatalf("retries exhausted: %v", err)
	}
	// MaxTaskRetries alone does not resend application errors.
	e := newGrouped(t, ctx)
	_, err = gFlaky.Options(rayo.MaxTaskRetries(3)).Remote(e, 1).Get(ctx)
	if !errors.As(err, &te) || te.Message != "attempt 1 fails" {
		t.Fatalf("no RetryExceptions: %v", err)
	}
}

func taskName(te *rayo.TaskError) string {
	if te == nil {
		return ""
	}
	return te.TaskName
}

func TestCancelActorCall(t *testing.T) {
	ctx := initEmbedded(t)
	a := newGrouped(t, ctx)

	// Queued in the caller: its argument is not ready.
	slow := tSleep.Remote(600_000)
	waiting := gPing.Remote(a, slow)
	after := gPing.Remote(a, 5) // waits behind it (calls go in order)
	if err := rayo.Cancel(waiting, false); err != nil {
		t.Fatal(err)
	}
	if _, err := waiting.Get(ctx); !errors.Is(err, rayo.ErrTaskCancelled) {
		t.Fatalf("call queued in the caller: %v, want ErrTaskCancelled", err)
	}
	if v, err := after.Get(ctx); err != nil || v != 5 {
		t.Fatalf("the call behind the cancelled one: %v, %v", v, err)
	}
	if err := rayo.Cancel(slow, false); err != nil {
		t.Fatal(err)
	}

	// Queued at the actor: b2 waits behind the running b1 and is dropped
	// while b1 still runs.
	b1 := gBlock.Remote(a)
	b2 := gBlock.Remote(a)
	if ok, err := gStarted.Remote(a).Get(ctx); err != nil || !ok {
		t.Fatalf("Started: %v, %v", ok, err)
	}
	if err := rayo.Cancel(b2, true); !errors.Is(err, rayo.ErrInvalidOption) {
		t.Fatalf("force cancel of an actor call: %v, want ErrInvalidOption", err)
	}
	if err := rayo.Cancel(b2, false); err != nil {
		t.Fatal(err)
	}
	if _, err := b2.Get(ctx); !errors.Is(err, rayo.ErrTaskCancelled) {
		t.Fatalf("call queued at the actor: %v, want ErrTaskCancelled", err)
	}
	// Running: its ctx is cancelled; it returns ctx.Err().
	if err := rayo.Cancel(b1, false); err != nil {
		t.Fatal(err)
	}
	if _, err := b1.Get(ctx); !errors.Is(err, rayo.ErrTaskCancelled) {
		t.Fatalf("running call: %v, want ErrTaskCancelled", err)
	}
	// b2 never ran: the next Block is the actor's second.
	b3 := gBlock.Remote(a)
	if _, err := gRelease.Remote(a).Get(ctx); err != nil {
		t.Fatal(err)
	}
	if v, err := b3.Get(ctx); err != nil || v != 2 {
		t.Fatalf("Block after the cancels: %v, %v; want 2 (the cancelled queued call never ran)", v, err)
	}
	// Cancelling a finished call does nothing.
	if err := rayo.Cancel(b3, false); err != nil {
		t.Fatal(err)
	}
	if v, err := b3.Get(ctx); err != nil || v != 2 {
		t.Fatalf("finished call after Cancel: %v, %v", v, err)
	}
}

// Cancel from a process that is not the call's owner goes to the owner.
func TestCancelActorCallFromBorrower(t *testing.T) {
	ctx := initEmbedded(t)
	a := newGrouped(t, ctx)
	b1 := gBlock.Remote(a)
	b2 := gBlock.Remote(a)
	if ok, err := gStarted.Remote(a).Get(ctx); err != nil || !ok {
		t.Fatalf("Started: %v, %v", ok, err)
	}
	if s, err := tCancelRef.Remote(intBox{b2}, true).Get(ctx); err != nil || s != "invalid" {
		t.Fatalf("force cancel from a borrower: %q, %v; want ErrInvalidOption there", s, err)
	}
	for _, r := range []rayo.ObjectRef[int]{b2, b1} {
		if s, err := tCancelRef.Remote(intBox{r}, false).Get(ctx); err != nil || s != "ok" {
			t.Fatalf("cancel from a borrower: %q, %v", s, err)
		}
		if _, err := r.Get(ctx); !errors.Is(err, rayo.ErrTaskCancelled) {
			t.Fatalf("call cancelled by a borrower: %v, want ErrTaskCancelled", err)
		}
	}
	// The actor goes on.
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if v, err := gPing.Remote(a, 9).Get(cctx); err != nil || v != 9 {
		t.Fatalf("Ping after the cancels: %v, %v", v, err)
	}
}

// As in Ray, Cancel is recursive by default: the tasks a cancelled actor
// call submitted are cancelled too (for an actor that runs one call at a
// time, whose calls are the parents of what they submit).
func TestCancelActorCallRecursive(t *testing.T) {
	ctx := initEmbedded(t)
	a, err := groupedActor.New(ctx) // one call at a time, no groups
	if err != nil {
		t.Fatal(err)
	}
	signal := newGrouped(t, ctx)
	spawn := gSpawn.Remote(a, signal)
	if _, err := gBlock.Remote(signal).Get(ctx); err != nil { // returns once Spawn released it
		t.Fatal(err)
	}
	if err := rayo.Cancel(spawn, false); err != nil {
		t.Fatal(err)
	}
	if _, err := spawn.Get(ctx); !errors.Is(err, rayo.ErrTaskCancelled) {
		t.Fatalf("Spawn: %v, want ErrTaskCancelled", err)
	}
	if s, err := gChild.Remote(a).Get(ctx); err != nil || s != "cancelled" {
		t.Fatalf("the task the cancelled call submitted: %q, %v; want cancelled", s, err)
	}
}

// A cancelled call is not resent when the actor's worker dies, whatever
// its retries (Ray's: cancelled tasks are not retried).
func TestCancelledActorCallNotRetried(t *testing.T) {
	ctx := initEmbedded(t)
	a, err := groupedActor.Options(rayo.ConcurrencyGroups(map[string]int{"health": 1}),
		rayo.MaxRestarts(1), rayo.MaxTaskRetries(-1)).New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hang := gHang.Remote(a)
	if ok, err := gStarted.Remote(a).Get(ctx); err != nil || !ok {
		t.Fatalf("Started: %v, %v", ok, err)
	}
	pid, err := gPid.Remote(a).Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Hang ignores the cancel and runs on; then its process dies.
	if err := rayo.Cancel(hang, false); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Resent, it would hang in the restarted actor until the ctx's end.
	if _, err := hang.Get(ctx); !errors.Is(err, rayo.ErrTaskCancelled) {
		t.Fatalf("cancelled call after its worker died: %v, want ErrTaskCancelled", err)
	}
	if pid2, err := gPid.Remote(a).Get(ctx); err != nil || pid2 == pid {
		t.Fatalf("the restarted actor: pid %d (was %d), %v", pid2, pid, err)
	}
}

// A recursive Cancel of a task cancels the actor calls it submitted, with
// force too (which, as in Ray, does not reach them: they are cancelled,
// their actor lives on).
func TestCancelTaskCancelsItsActorCalls(t *testing.T) {
	ctx := initEmbedded(t)
	for _, force := range []bool{false, true} {
		a := newGrouped(t, ctx)
		r := tCallBlock.Remote(a)
		if ok, err := gStarted.Remote(a).Get(ctx); err != nil || !ok {
			t.Fatalf("Started: %v, %v", ok, err)
		}
		if err := rayo.Cancel(r, force); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Get(ctx); err == nil {
			t.Fatalf("force %v: the cancelled task succeeded", force)
		}
		// Ping waits behind Block in the default group: it returns only
		// if Block was cancelled.
		if v, err := gPing.Remote(a, 4).Get(ctx); err != nil || v != 4 {
			t.Fatalf("force %v: Ping after the task's cancel: %v, %v", force, v, err)
		}
	}
}

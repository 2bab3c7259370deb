package rayo_test

import (
	"context"
	"errors"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/rayo-dev/rayo"
)

type Counter struct {
	mu sync.Mutex
	n  int
}

func NewCounter(start int) (*Counter, error) {
	if start < 0 {
		return nil, errNegativeStart
	}
	return &Counter{n: start}, nil
}

func (c *Counter) Incr(by int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n += by
	return c.n
}

func (c *Counter) Fail(ctx context.Context, msg string) (int, error) { return 0, errors.New(msg) }
func (c *Counter) Panic() int                                        { panic("actor boom") }
func (c *Counter) Pid() int                                          { return os.Getpid() }
func (c *Counter) Exit(ctx context.Context) (int, error)             { return c.n, rayo.ExitActor(ctx) }

// Bump calls the counter it is given (a handle passed as an argument).
func bump(ctx context.Context, h rayo.ActorHandle[Counter], by int) (int, error) {
	return cIncr.Remote(h, by).Get(ctx)
}

var (
	errNegativeStart = errors.New("start must not be negative")
	counterActor     = rayo.RegisterActor[Counter]("test.Counter", NewCounter)
	cIncr            = rayo.RegisterMethod[int](counterActor, "Incr", (*Counter).Incr)
	cFail            = rayo.RegisterMethod[int](counterActor, "Fail", (*Counter).Fail)
	cPanic           = rayo.RegisterMethod[int](counterActor, "Panic", (*Counter).Panic)
	cPid             = rayo.RegisterMethod[int](counterActor, "Pid", (*Counter).Pid)
	cExit            = rayo.RegisterMethod[int](counterActor, "Exit", (*Counter).Exit)
	tBump            = rayo.Register[int]("test.bump", bump)
)

func init() { rayo.RegisterError("test.errNegativeStart", errNegativeStart) }

func TestActorBasics(t *testing.T) {
	ctx := initEmbedded(t)
	c, err := counterActor.New(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	refs := make([]rayo.ObjectRef[int], 100)
	for i := range refs {
		refs[i] = cIncr.Remote(c, 1)
	}
	got, err := rayo.GetAll(ctx, refs)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		if v != 11+i {
			t.Fatalf("call %d returned %d, want %d: calls ran out of order", i, v, 11+i)
		}
	}
	// An error or a panic fails that call only.
	if _, err := cFail.Remote(c, "nope").Get(ctx); !errors.Is(err, rayo.ErrTaskFailed) {
		t.Fatalf("method error: %v", err)
	}
	var te *rayo.TaskError
	if _, err := cPanic.Remote(c).Get(ctx); !errors.As(err, &te) || !te.Panicked {
		t.Fatalf("method panic: %v", err)
	}
	if v, err := cIncr.Remote(c, 0).Get(ctx); err != nil || v != 110 {
		t.Fatalf("after error and panic: %v %v", v, err)
	}
	// Handles travel into tasks.
	if v, err := tBump.Remote(c, 5).Get(ctx); err != nil || v != 115 {
		t.Fatalf("handle passed to a task: %v %v", v, err)
	}
	// Kill: calls fail with ActorDiedError, cause killed.
	if err := rayo.Kill(ctx, c, true); err != nil {
		t.Fatal(err)
	}
	_, err = cIncr.Remote(c, 1).Get(ctx)
	var de *rayo.ActorDiedError
	if !errors.As(err, &de) || !errors.Is(err, rayo.ErrActorDied) || !errors.Is(err, rayo.ErrActorKilled) {
		t.Fatalf("after kill: %v", err)
	}
}

func TestActorConstructorFails(t *testing.T) {
	ctx := initEmbedded(t)
	c, err := counterActor.New(ctx, -1)
	if err != nil {
		t.Fatal(err)
	}
	_, err = cIncr.Remote(c, 1).Get(ctx)
	if !errors.Is(err, rayo.ErrActorDied) || !errors.Is(err, rayo.ErrConstructorFailed) || !errors.Is(err, errNegativeStart) {
		t.Fatalf("constructor failure: %v", err)
	}
	if err := c.Ready(ctx); !errors.Is(err, rayo.ErrConstructorFailed) {
		t.Fatalf("Ready: %v", err)
	}
}

func TestActorRestartAndRetry(t *testing.T) {
	ctx := initEmbedded(t)
	c, err := counterActor.Options(rayo.MaxRestarts(1), rayo.MaxTaskRetries(1)).New(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := cPid.Remote(c).Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := rayo.Kill(ctx, c, false); err != nil { // restart allowed
		t.Fatal(err)
	}
	pid2, err := cPid.Remote(c).Get(ctx)
	if err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if pid2 == pid {
		t.Fatal("the actor was not restarted in a new process")
	}
	if v, err := cIncr.Remote(c, 1).Get(ctx); err != nil || v != 1 {
		t.Fatalf("state after restart: %v %v (the constructor re-runs)", v, err)
	}
	// No restarts left: the next death is final.
	if err := rayo.Kill(ctx, c, false); err != nil {
		t.Fatal(err)
	}
	if _, err := cIncr.Remote(c, 1).Get(ctx); !errors.Is(err, rayo.ErrActorDied) {
		t.Fatalf("after the last restart: %v", err)
	}
}

func TestNamedActorsAndExit(t *testing.T) {
	ctx := initEmbedded(t)
	c, err := counterActor.Options(rayo.Name("shared")).New(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := counterActor.Options(rayo.Name("shared")).New(ctx, 5); !errors.Is(err, rayo.ErrActorNameTaken) {
		t.Fatalf("duplicate name: %v", err)
	}
	same, err := counterActor.Options(rayo.Name("shared"), rayo.GetIfExists()).New(ctx, 0)
	if err != nil || same.ID() != c.ID() {
		t.Fatalf("get-or-create: %v %v", same, err)
	}
	byName, err := rayo.GetActor[Counter](ctx, "shared")
	if err != nil || byName.ID() != c.ID() {
		t.Fatalf("GetActor: %v %v", byName, err)
	}
	if _, err := rayo.GetActor[Counter](ctx, "nobody"); !errors.Is(err, rayo.ErrActorNotFound) {
		t.Fatalf("GetActor unknown: %v", err)
	}
	if v, err := cExit.Remote(byName).Get(ctx); err != nil || v != 5 {
		t.Fatalf("exit call: %v %v", v, err)
	}
	_, err = cIncr.Remote(c, 1).Get(ctx)
	if !errors.Is(err, rayo.ErrActorExited) {
		t.Fatalf("after ExitActor: %v", err)
	}
}

func TestActorOutOfScope(t *testing.T) {
	ctx := initEmbedded(t)
	var id string
	func() {
		c, err := counterActor.New(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Ready(ctx); err != nil {
			t.Fatal(err)
		}
		id = c.ID()
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		runtimeGC()
		if st := actorState(t, ctx, id); st == "DEAD" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("an actor whose handles are all gone is still alive")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func runtimeGC() { runtime.GC() }

func actorState(t *testing.T, ctx context.Context, id string) string {
	t.Helper()
	st, err := rayo.ActorStateForTest(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestActorPool(t *testing.T) {
	ctx := initEmbedded(t)
	var actors []rayo.ActorHandle[Counter]
	for i := 0; i < 3; i++ {
		a, err := counterActor.New(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		actors = append(actors, a)
	}
	pool := rayo.NewActorPool[Counter, int](actors...)
	values := []int{1, 2, 3, 4, 5, 6, 7}
	var got []int
	// Each Incr on a fresh counter returns the running sum of that actor;
	// with a fresh actor per value, the first three equal their values.
	for v, err := range rayo.PoolMap(ctx, pool, values[:3], func(a rayo.ActorHandle[Counter], v int) rayo.ObjectRef[int] {
		return cIncr.Remote(a, v)
	}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	if len(got) != 3 || got[0] != 1 || got[1] != 2 || got[2] != 3 {
		t.Fatalf("ordered map: %v", got)
	}
	sum := 0
	n := 0
	for v, err := range rayo.PoolMapUnordered(ctx, pool, values, func(a rayo.ActorHandle[Counter], v int) rayo.ObjectRef[int] {
		return cPid.Remote(a)
	}) {
		if err != nil {
			t.Fatal(err)
		}
		sum += v
		n++
	}
	if n != len(values) {
		t.Fatalf("unordered map yielded %d results, want %d", n, len(values))
	}
	if _, err := pool.GetNext(ctx); !errors.Is(err, rayo.ErrPoolEmpty) {
		t.Fatalf("GetNext on an empty pool: %v", err)
	}
}

func TestActorMaxConcurrency(t *testing.T) {
	ctx := initEmbedded(t)
	// Four calls that each wait for all four to have started can only
	// finish if they run at the same time.
	b, err := barrierActor.Options(rayo.MaxConcurrency(4)).New(ctx, 4)
	if err != nil {
		t.Fatal(err)
	}
	refs := make([]rayo.ObjectRef[int], 4)
	for i := range refs {
		refs[i] = bArrive.Remote(b)
	}
	if _, err := rayo.GetAll(ctx, refs); err != nil {
		t.Fatal(err)
	}
}

type Barrier struct {
	mu      sync.Mutex
	n, seen int
	all     chan struct{}
}

var (
	barrierActor = rayo.RegisterActor[Barrier]("test.Barrier", func(n int) *Barrier {
		return &Barrier{n: n, all: make(chan struct{})}
	})
	bArrive = rayo.RegisterMethod[int](barrierActor, "Arrive", func(b *Barrier, ctx context.Context) (int, error) {
		b.mu.Lock()
		b.seen++
		if b.seen == b.n {
			close(b.all)
		}
		b.mu.Unlock()
		select {
		case <-b.all:
			return b.n, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	})
)

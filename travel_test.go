package rayo_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/rayo-dev/rayo"
)

// Tasks that receive registered functions, actor types, methods and
// placement groups as arguments and use them in a worker process.
var (
	tCallInt = rayo.Register[int]("travel.callInt", func(ctx context.Context, fn *rayo.Task[int], a, b int) (int, error) {
		if fn == nil {
			return -1, nil
		}
		return fn.Remote(a, b).Get(ctx)
	})
	// tShownName calls fn, which fails, and reports the name its error
	// shows (the Name option) and the CPUs fn asks for.
	tShownName = rayo.Register[string]("travel.shownName", func(ctx context.Context, fn *rayo.Task[int]) (string, error) {
		_, err := fn.Remote().Get(ctx)
		var te *rayo.TaskError
		if !errors.As(err, &te) {
			return "", fmt.Errorf("calling %s: %v, want a TaskError", fn.Name(), err)
		}
		return fmt.Sprintf("%s cpu=%v", te.TaskName, rayo.TaskResourcesForTest(fn)["CPU"]), nil
	})
	tMakeActor = rayo.Register[int]("travel.makeActor", func(ctx context.Context, at *rayo.ActorType[Counter], m *rayo.Method[Counter, int], start, by int) (int, error) {
		h, err := at.New(ctx, start)
		if err != nil {
			return 0, err
		}
		defer func() { _ = rayo.Kill(ctx, h, true) }()
		return m.Remote(h, by).Get(ctx)
	})
	tInGroup = rayo.Register[string]("travel.inGroup", func(ctx context.Context, pg *rayo.PlacementGroup) (string, error) {
		if err := pg.Ready(ctx); err != nil {
			return "", err
		}
		v, err := tAdd.Options(rayo.InPlacementGroup(pg, 0)).Remote(1, 2).Get(ctx)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s/%s/%d=%d", pg.ID(), pg.Name(), pg.BundleCount(), v), nil
	})
	// tAsString decodes b, an encoded *Task[int], as a *Task[string].
	tAsString = rayo.Register[string]("travel.asString", func(ctx context.Context, b []byte) (string, error) {
		var fn *rayo.Task[string]
		if err := msgpack.Unmarshal(b, &fn); err != nil {
			return "", fmt.Errorf("decoding: %w", err)
		}
		return fn.Remote(1, 2).Get(ctx)
	})
	// tMakeWrong decodes b, an encoded *ActorType[Counter], as an actor
	// type of another instance type.
	tMakeWrong = rayo.Register[int]("travel.makeWrong", func(ctx context.Context, b []byte) (int, error) {
		var at *rayo.ActorType[payload]
		if err := msgpack.Unmarshal(b, &at); err != nil {
			return 0, fmt.Errorf("decoding: %w", err)
		}
		_, err := at.New(ctx)
		return 0, err
	})
)

// Registered in the driver only, after Init: the workers, which run the
// same binary but not this test, lack it, as a binary built without a
// library would.
var (
	driverOnlyOnce sync.Once
	driverOnly     *rayo.Task[int]
)

func TestTravelTaskAcrossProcesses(t *testing.T) {
	ctx := initEmbedded(t)
	if v, err := tCallInt.Remote(tAdd, 20, 22).Get(ctx); err != nil || v != 42 {
		t.Fatalf("a task called through a *Task argument: %v %v; want 42", v, err)
	}
	// Options set by the caller hold in the worker that calls it.
	got, err := tShownName.Remote(tPanic.Options(rayo.Name("travel-shown"), rayo.NumCPUs(0.5))).Get(ctx)
	if err != nil || got != "travel-shown cpu=0.5" {
		t.Fatalf("a *Task with options passed on: %q %v; want \"travel-shown cpu=0.5\"", got, err)
	}
	// A nil *Task arrives as nil.
	if v, err := tCallInt.Remote((*rayo.Task[int])(nil), 1, 2).Get(ctx); err != nil || v != -1 {
		t.Fatalf("a nil *Task passed to a worker: %v %v; want it nil there (-1)", v, err)
	}
}

func TestTravelActorAcrossProcesses(t *testing.T) {
	ctx := initEmbedded(t)
	if v, err := tMakeActor.Remote(counterActor, cIncr, 10, 5).Get(ctx); err != nil || v != 15 {
		t.Fatalf("an actor made and called through *ActorType and *Method arguments: %v %v; want 15", v, err)
	}
	// The actor type's options travel: a Name taken makes New fail there.
	named, err := counterActor.Options(rayo.Name("travel-counter")).New(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rayo.Kill(context.Background(), named, true) })
	if _, err := tMakeActor.Remote(counterActor.Options(rayo.Name("travel-counter")), cIncr, 0, 1).Get(ctx); !errors.Is(err, rayo.ErrActorNameTaken) {
		t.Fatalf("New in a worker with a taken Name set in the driver: %v; want ErrActorNameTaken", err)
	}
	// A method's per-call options travel: a concurrency group the actor
	// lacks fails the call made in the worker.
	if _, err := tMakeActor.Remote(counterActor, cIncr.Options(rayo.ConcurrencyGroup("travel-none")), 0, 1).Get(ctx); !errors.Is(err, rayo.ErrInvalidOption) {
		t.Fatalf("a *Method with a ConcurrencyGroup the actor lacks, called in a worker: %v; want ErrInvalidOption", err)
	}
}

func TestTravelPlacementGroupAcrossProcesses(t *testing.T) {
	ctx := initEmbedded(t)
	pg, err := rayo.NewPlacementGroup(ctx, []map[string]float64{{"CPU": 1}}, rayo.PACK, rayo.PlacementGroupName("travel-pg"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rayo.RemovePlacementGroup(context.Background(), pg) })
	want := pg.ID() + "/travel-pg/1=3"
	if got, err := tInGroup.Remote(pg).Get(ctx); err != nil || got != want {
		t.Fatalf("a task run in a group passed as an argument: %q %v; want %q", got, err, want)
	}
}

func TestTravelNotRegisteredAcrossProcesses(t *testing.T) {
	ctx := initEmbedded(t)
	driverOnlyOnce.Do(func() {
		driverOnly = rayo.Register[int]("travel.driverOnly", func(a, b int) int { return a * b })
	})
	// Submitted by name, it reaches a worker that cannot run it.
	if _, err := driverOnly.Remote(6, 7).Get(ctx); !errors.Is(err, rayo.ErrNotRegistered) || !errors.Is(err, rayo.ErrBadCall) {
		t.Fatalf("a task the worker's binary lacks: %v; want ErrNotRegistered and ErrBadCall", err)
	}
	_, err := tCallInt.Remote(driverOnly, 6, 7).Get(ctx)
	if !errors.Is(err, rayo.ErrNotRegistered) || !errors.Is(err, rayo.ErrBadCall) {
		t.Fatalf("a *Task the worker's binary lacks: %v; want ErrNotRegistered and ErrBadCall", err)
	}

	b, err := msgpack.Marshal(tAdd)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tAsString.Remote(b).Get(ctx); !errors.Is(err, rayo.ErrNotRegistered) {
		t.Fatalf("a Register[int] task decoded as a *Task[string] in a worker: %v; want ErrNotRegistered", err)
	}
	b, err = msgpack.Marshal(counterActor)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tMakeWrong.Remote(b).Get(ctx); !errors.Is(err, rayo.ErrNotRegistered) {
		t.Fatalf("an actor type decoded as another's in a worker: %v; want ErrNotRegistered", err)
	}
}

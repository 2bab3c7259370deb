package integration_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/testcluster"
)

// Actors whose constructors end their process or wait (issue 14, items 3
// and 5).

// actLife is the "itest.Life" actor.
type actLife struct{}

var (
	// lifeActor's constructor: "exit" ends the process; "exit once" does
	// unless marker exists (it creates it first, so only the first
	// incarnation exits); "wait" writes its pid into marker, then waits
	// until release exists.
	lifeActor = rayo.RegisterActor[actLife]("itest.Life", func(ctx context.Context, mode, marker, release string) (*actLife, error) {
		switch mode {
		case "exit":
			os.Exit(7)
		case "exit once":
			if _, err := os.Stat(marker); err == nil {
				return &actLife{}, nil
			}
			if err := os.WriteFile(marker, nil, 0o644); err != nil {
				return nil, err
			}
			os.Exit(7)
		case "wait":
			if err := os.WriteFile(marker, []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
				return nil, err
			}
			ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			for {
				if _, err := os.Stat(release); err == nil {
					return &actLife{}, nil
				}
				select {
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-time.After(5 * time.Millisecond):
				}
			}
		}
		return &actLife{}, nil
	})
	lPid = rayo.RegisterMethod[int](lifeActor, "Pid", func(*actLife) int { return os.Getpid() })

	// handleKeeper holds a counter's handle between calls.
	handleKeeper = rayo.RegisterActor[actHandleKeeper]("itest.HandleKeeper", func() *actHandleKeeper { return &actHandleKeeper{} })
	kKeep        = rayo.RegisterMethod[bool](handleKeeper, "Keep", func(k *actHandleKeeper, c rayo.ActorHandle[actCounter]) bool {
		k.mu.Lock()
		defer k.mu.Unlock()
		k.c = c
		return true
	})
	kDrop = rayo.RegisterMethod[bool](handleKeeper, "Drop", func(k *actHandleKeeper) bool {
		k.mu.Lock()
		k.c = rayo.ActorHandle[actCounter]{}
		k.mu.Unlock()
		runtime.GC() // its handle is counted out by its cleanup
		return true
	})
)

// actHandleKeeper is the "itest.HandleKeeper" actor.
type actHandleKeeper struct {
	mu sync.Mutex
	c  rayo.ActorHandle[actCounter]
}

// A constructor that ends its process counts against MaxRestarts: with
// none, the actor is dead (crashed) and its calls fail at once instead of
// waiting for ever; with one, the second incarnation serves.
func TestActorConstructorExitsProcess(t *testing.T) {
	c := startCluster(t)
	connect(t, c)
	ctx := withTimeout(t, time.Minute)
	dir := t.TempDir()

	h, err := lifeActor.Options(rayo.MaxRestarts(0)).New(ctx, "exit", "", "")
	if err != nil {
		t.Fatal(err)
	}
	defer runtime.KeepAlive(h)
	_, err = getT(t, lPid.Remote(h), 20*time.Second)
	if !errors.Is(err, rayo.ErrActorDied) || !errors.Is(err, rayo.ErrActorCrashed) {
		t.Fatalf("a call on an actor whose constructor ended its process: %v (%s); want ErrActorDied, ErrActorCrashed", err, diedCause(err))
	}
	if err := h.Ready(ctx); !errors.Is(err, rayo.ErrActorCrashed) {
		t.Fatalf("Ready: %v; want ErrActorCrashed", err)
	}
	if info := actorInfo(t, c, h.ID()); info.State != protocol.ActorDead || info.NumRestarts != 0 {
		t.Fatalf("the head lists the actor as %s after %d restarts; want DEAD after 0", info.State, info.NumRestarts)
	}

	r, err := lifeActor.Options(rayo.MaxRestarts(1)).New(ctx, "exit once", filepath.Join(dir, "once"), "")
	if err != nil {
		t.Fatal(err)
	}
	defer runtime.KeepAlive(r)
	pid, err := getT(t, lPid.Remote(r), 30*time.Second)
	if err != nil {
		t.Fatalf("a call on an actor whose first constructor ended its process, with a restart left: %v", err)
	}
	if info := actorInfo(t, c, r.ID()); info.State != protocol.ActorAlive || info.NumRestarts != 1 || info.Pid != pid {
		t.Fatalf("the head lists the actor as %s, pid %d, after %d restarts; want ALIVE in %d after 1", info.State, info.Pid, info.NumRestarts, pid)
	}
}

// Kill(h, false) on an actor whose constructor runs restarts it (as in
// Ray): its name still resolves, and the new incarnation serves.
func TestActorKillWhileCreatingRestarts(t *testing.T) {
	c := startCluster(t)
	connectNS(t, c, "kill-creating")
	ctx := withTimeout(t, time.Minute)
	dir := t.TempDir()
	started, release := filepath.Join(dir, "started"), filepath.Join(dir, "release")
	t.Cleanup(func() { _ = os.WriteFile(release, nil, 0o644) })

	h, err := lifeActor.Options(rayo.Name("slow"), rayo.MaxRestarts(1)).New(ctx, "wait", started, release)
	if err != nil {
		t.Fatal(err)
	}
	defer runtime.KeepAlive(h)
	first := waitPid(t, started, "the constructor to start")
	if info := actorInfo(t, c, h.ID()); info.State != protocol.ActorPending {
		t.Fatalf("the actor whose constructor waits is %s, want %s", info.State, protocol.ActorPending)
	}
	if err := os.Remove(started); err != nil {
		t.Fatal(err)
	}
	if err := rayo.Kill(ctx, h, false); err != nil {
		t.Fatal(err)
	}
	c.WaitFor(t, 10*time.Second, func() bool { return !testcluster.Alive(first) },
		fmt.Sprintf("the first constructor's process %d to be killed", first))
	if info := actorInfo(t, c, h.ID()); info.State == protocol.ActorDead || info.NumRestarts != 1 {
		t.Fatalf("after Kill(h, false) during its creation the actor is %s after %d restarts (%+v); want restarting, 1 restart", info.State, info.NumRestarts, info.Death)
	}
	g, err := rayo.GetActor[actLife](ctx, "slow")
	if err != nil || g.ID() != h.ID() {
		t.Fatalf("GetActor after Kill(h, false) during creation: %v, %v; want %s", g.ID(), err, h.ID())
	}
	touch(t, release)
	pid, err := getT(t, lPid.Remote(g), 30*time.Second)
	if err != nil {
		t.Fatalf("a call on the restarted actor: %v", err)
	}
	if pid == first {
		t.Fatalf("the actor still runs in the killed process %d", first)
	}
}

// A call made after the actor's process died, before this process
// noticed, was never delivered: it goes to the restarted actor, even
// without task retries (issue 14, item 10). Each round kills the process
// and calls as soon as it is gone: with one P, and no pause between the
// two, this process's reader of the broken connection has not run yet,
// so the call goes to a connection whose peer is gone.
func TestActorCallAfterUnnoticedDeath(t *testing.T) {
	c := startCluster(t)
	connect(t, c)
	const rounds = 4
	a := newActor(t, counterActor.Options(rayo.MaxRestarts(rounds), rayo.MaxTaskRetries(0)), 0)
	defer runtime.KeepAlive(a)
	for round := 1; round <= rounds; round++ {
		mustGet(t, cIncr.Remote(a, 1), "Incr")
		pid := actorPid(t, c, a)
		if !slices.Contains(c.WorkerPids(t), pid) {
			t.Fatalf("refusing to kill %d: not a worker of the cluster", pid)
		}
		ref := func() rayo.ObjectRef[int] {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			// Until it is reaped: a zombie leader's other threads may
			// still hold its sockets open.
			for deadline := time.Now().Add(10 * time.Second); ; {
				if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); errors.Is(err, os.ErrNotExist) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the killed actor's process %d is still there", pid)
				}
			}
			return cIncr.Remote(a, 1)
		}()
		v, err := getT(t, ref, time.Minute)
		if err != nil || v != 1 {
			t.Fatalf("round %d: a call made after the actor's process %d died: %d, %v; want 1 from the restarted actor", round, pid, v, err)
		}
	}
	if info := actorInfo(t, c, a.ID()); info.NumRestarts != rounds {
		t.Fatalf("the actor restarted %d times, want %d", info.NumRestarts, rounds)
	}
}

// waitOutOfScope collects garbage until the head reports the actor dead
// of going out of scope.
func waitOutOfScope(t *testing.T, c *testcluster.Cluster, id, what string) {
	t.Helper()
	c.WaitFor(t, 30*time.Second, func() bool {
		runtime.GC()
		return actorInfo(t, c, id).State == protocol.ActorDead
	}, what)
	if d := actorInfo(t, c, id).Death; d == nil || d.Code != protocol.DeathOutOfScope {
		t.Fatalf("%s: it died of %+v, want out of scope", what, d)
	}
}

// Handles passed to a task or held by an actor count, wherever they are
// (issue 14, item 4): the actor lives while one exists, and goes out of
// scope when the last one anywhere is gone, a named one too, whose name
// is then free again.
func TestActorHandlesCountEverywhere(t *testing.T) {
	c := startCluster(t)
	connectNS(t, c, "handles-count")
	ctx := withTimeout(t, 2*time.Minute)

	// Passed to a task (inside a value), then dropped everywhere.
	id := func() string {
		a := newActor(t, counterActor, 0)
		if v := mustGet(t, actViaHolder.Remote(actHolder{Tag: "t", C: a}, 2), "viaHolder"); v != 2 {
			t.Fatalf("viaHolder: %d, want 2", v)
		}
		return a.ID()
	}()
	waitOutOfScope(t, c, id, "the actor whose handle went to a task, once every handle is gone")

	// Named, passed to a task, dropped: out of scope, and the name is free.
	named := func() string {
		n, err := counterActor.Options(rayo.Name("scoped")).New(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		mustGet(t, actViaHolder.Remote(actHolder{Tag: "n", C: n}, 1), "viaHolder on the named actor")
		return n.ID()
	}()
	waitOutOfScope(t, c, named, "the named actor, once every handle is gone")
	if _, err := rayo.GetActor[actCounter](ctx, "scoped"); !errors.Is(err, rayo.ErrActorNotFound) {
		t.Fatalf("GetActor of the named actor out of scope: %v; want ErrActorNotFound", err)
	}
	again, err := counterActor.Options(rayo.Name("scoped")).New(ctx, 10)
	if err != nil {
		t.Fatalf("a new actor under the freed name: %v", err)
	}
	defer runtime.KeepAlive(again)
	if v := mustGet(t, cIncr.Remote(again, 1), "Incr on the new named actor"); v != 11 {
		t.Fatalf("Incr on the new named actor: %d, want 11", v)
	}

	// Held by another actor: alive while it holds it, after this process
	// dropped its own; out of scope once it lets go.
	k := newActor(t, handleKeeper)
	defer runtime.KeepAlive(k)
	kept := func() string {
		a := newActor(t, counterActor, 0)
		mustGet(t, kKeep.Remote(k, a), "Keep")
		return a.ID()
	}()
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
		runtime.GC()
		if info := actorInfo(t, c, kept); info.State != protocol.ActorAlive {
			t.Fatalf("the actor another actor holds a handle to is %s (%+v) once this process dropped its own", info.State, info.Death)
		}
	}
	mustGet(t, kDrop.Remote(k), "Drop")
	waitOutOfScope(t, c, kept, "the actor once its last holder dropped its handle")
}

// A handle given to another actor's constructor counts while that actor
// may restart, and no longer once it is out of scope; a handle that
// GetActor returns in the actor's creator counts like New's (as Ray's
// get_actor in the owner).
func TestActorHandlesInConstructorsAndGetActor(t *testing.T) {
	c := startCluster(t)
	connectNS(t, c, "handles-ctor")
	ctx := withTimeout(t, 2*time.Minute)

	// A counter whose handle only a relay's constructor got: both go once
	// the relay's handle is gone (before, the constructor's arguments were
	// held for the life of this process, and the counter with them).
	counterID, relayID := func() (string, string) {
		a := newActor(t, counterActor, 0)
		r := newActor(t, relayActor, a)
		if v := mustGet(t, rForward.Remote(r, 1), "Forward"); v != 1 {
			t.Fatalf("Forward: %d, want 1", v)
		}
		return a.ID(), r.ID()
	}()
	waitOutOfScope(t, c, relayID, "the relay, once its handle is gone")
	waitOutOfScope(t, c, counterID, "the counter only the relay's constructor held")

	// New's handle dropped, GetActor's kept: the actor lives on; it goes
	// with the last one.
	var found rayo.ActorHandle[actCounter]
	id := func() string {
		n, err := counterActor.Options(rayo.Name("looked-up")).New(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Ready(ctx); err != nil {
			t.Fatal(err)
		}
		if found, err = rayo.GetActor[actCounter](ctx, "looked-up"); err != nil {
			t.Fatal(err)
		}
		return n.ID()
	}()
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
		runtime.GC()
		if info := actorInfo(t, c, id); info.State != protocol.ActorAlive {
			t.Fatalf("the actor whose GetActor handle its creator holds is %s (%+v)", info.State, info.Death)
		}
	}
	if v := mustGet(t, cIncr.Remote(found, 1), "Incr through GetActor's handle"); v != 1 {
		t.Fatalf("Incr through GetActor's handle: %d, want 1", v)
	}
	found = rayo.ActorHandle[actCounter]{}
	waitOutOfScope(t, c, id, "the actor once GetActor's handle is gone too")
}

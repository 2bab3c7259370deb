package rayo_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/rayo-dev/rayo"
)

// ctxInfo is what a call reports of its runtime context.
type ctxInfo struct {
	RC   rayo.RuntimeContext
	GPUs []int
	Cuda string
}

func ctxInfoOf(ctx context.Context) (ctxInfo, error) {
	rc, err := rayo.GetRuntimeContext(ctx)
	return ctxInfo{RC: rc, GPUs: rayo.GetGPUIDs(ctx), Cuda: os.Getenv("CUDA_VISIBLE_DEVICES")}, err
}

// CtxActor reports its runtime context, its constructor's, and calls
// itself through CurrentActor.
type CtxActor struct{ Ctor ctxInfo }

func NewCtxActor(ctx context.Context) (*CtxActor, error) {
	info, err := ctxInfoOf(ctx)
	if err != nil {
		return nil, err
	}
	// In the constructor too, as Ray's current_actor.
	if _, err := rayo.CurrentActor[CtxActor](ctx); err != nil {
		return nil, err
	}
	return &CtxActor{Ctor: info}, nil
}

func (a *CtxActor) Info(ctx context.Context) (ctxInfo, error) { return ctxInfoOf(ctx) }
func (a *CtxActor) CtorInfo() ctxInfo                         { return a.Ctor }

// InfoAt waits at a barrier, so that calls run at once, then reports.
func (a *CtxActor) InfoAt(ctx context.Context, dir string, n int) (ctxInfo, error) {
	if _, err := barrierWait(ctx, dir, n); err != nil {
		return ctxInfo{}, err
	}
	return ctxInfoOf(ctx)
}

// CallSelf calls Info on itself through CurrentActor and returns the
// nested call's actor ID and its own task ID.
func (a *CtxActor) CallSelf(ctx context.Context) ([]string, error) {
	h, err := rayo.CurrentActor[CtxActor](ctx)
	if err != nil {
		return nil, err
	}
	if _, err := rayo.CurrentActor[Counter](ctx); !errors.Is(err, rayo.ErrBadCall) {
		return nil, errors.New("CurrentActor of the wrong type: " + errorString(err))
	}
	ref := ctxInfoM.Remote(h) // asynchronous: MaxConcurrency leaves room
	info, err := ref.Get(ctx)
	if err != nil {
		return nil, err
	}
	rc, err := rayo.GetRuntimeContext(ctx)
	if err != nil {
		return nil, err
	}
	return []string{info.RC.ActorID, info.RC.TaskID, ref.ID(), rc.TaskID}, nil
}

func errorString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

var (
	ctxActor    = rayo.RegisterActor[CtxActor]("test.CtxActor", NewCtxActor)
	ctxInfoM    = rayo.RegisterMethod[ctxInfo](ctxActor, "Info", (*CtxActor).Info)
	ctxCtorInfo = rayo.RegisterMethod[ctxInfo](ctxActor, "CtorInfo", (*CtxActor).CtorInfo)
	ctxInfoAt   = rayo.RegisterMethod[ctxInfo](ctxActor, "InfoAt", (*CtxActor).InfoAt)
	ctxCallSelf = rayo.RegisterMethod[[]string](ctxActor, "CallSelf", (*CtxActor).CallSelf)
	tCtxInfo    = rayo.Register[ctxInfo]("test.ctxInfo", ctxInfoOf)
	tNotActor   = rayo.Register[string]("test.currentActorInTask", func(ctx context.Context) (string, error) {
		_, err := rayo.CurrentActor[CtxActor](ctx)
		if !errors.Is(err, rayo.ErrInvalidOption) {
			return "", errors.New("CurrentActor in a task: " + errorString(err))
		}
		return "ok", nil
	})
)

func TestRuntimeContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if _, err := rayo.GetRuntimeContext(ctx); !errors.Is(err, rayo.ErrNotInitialized) {
		t.Fatalf("before Init: %v", err)
	}
	if err := rayo.Init(ctx, rayo.WithNumCPUs(4), rayo.WithNumGPUs(2), rayo.WithNamespace("ctxns"),
		rayo.WithLogToDriver(false), rayo.WithTempDir(t.TempDir())); err != nil {
		t.Fatal(err)
	}
	defer rayo.Shutdown()

	// The driver: its job, node, worker and namespace; no call.
	drv, err := rayo.GetRuntimeContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if drv.JobID == "" || drv.NodeID != rayo.NodeID() || drv.WorkerID == "" || drv.Namespace != "ctxns" || drv.TaskID != "" ||
		drv.ActorID != "" || len(drv.Resources) != 0 || drv.GPUIDs != nil || drv.PlacementGroupID != "" || drv.BundleIndex != -1 || drv.InTask() {
		t.Fatalf("the driver's context: %+v", drv)
	}
	if g := rayo.GetGPUIDs(ctx); g != nil {
		t.Fatalf("the driver's GPUs: %v", g)
	}
	if _, err := rayo.CurrentActor[CtxActor](ctx); !errors.Is(err, rayo.ErrInvalidOption) {
		t.Fatalf("CurrentActor in the driver: %v", err)
	}

	// A task with a GPU.
	ref := tCtxInfo.Options(rayo.NumGPUs(1)).Remote()
	info, err := ref.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rc := info.RC
	if rc.TaskID != ref.ID() || rc.JobID != drv.JobID || rc.NodeID != drv.NodeID || rc.WorkerID == "" || rc.WorkerID == drv.WorkerID ||
		rc.Namespace != "ctxns" || rc.ActorID != "" || !rc.InTask() || rc.PlacementGroupID != "" || rc.BundleIndex != -1 {
		t.Fatalf("a task's context: %+v", rc)
	}
	if rc.Resources["CPU"] != 1 || rc.Resources["GPU"] != 1 || len(rc.Resources) != 2 {
		t.Fatalf("a task's resources: %v", rc.Resources)
	}
	if len(info.GPUs) != 1 || !slices.Equal(info.GPUs, rc.GPUIDs) || info.Cuda != strconv.Itoa(info.GPUs[0]) {
		t.Fatalf("a 1-GPU task: GetGPUIDs %v, context %v, CUDA_VISIBLE_DEVICES %q", info.GPUs, rc.GPUIDs, info.Cuda)
	}
	if info, err := tCtxInfo.Remote().Get(ctx); err != nil || info.GPUs != nil || info.RC.Resources["CPU"] != 1 {
		t.Fatalf("a task without GPUs: %+v %v", info, err)
	}
	if v, err := tNotActor.Remote().Get(ctx); err != nil || v != "ok" {
		t.Fatalf("%v %v", v, err)
	}

	// Tasks in a placement group: its ID, the bundle, plain resources.
	pg, err := rayo.NewPlacementGroup(ctx, []map[string]float64{{"CPU": 1}, {"CPU": 1, "GPU": 1}}, rayo.PACK)
	if err != nil {
		t.Fatal(err)
	}
	if err := pg.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	info, err = tCtxInfo.Options(rayo.InPlacementGroup(pg, 1), rayo.NumGPUs(1)).Remote().Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rc := info.RC; rc.PlacementGroupID != pg.ID() || rc.BundleIndex != 1 || rc.Resources["CPU"] != 1 || rc.Resources["GPU"] != 1 ||
		len(rc.Resources) != 2 || len(info.GPUs) != 1 {
		t.Fatalf("a task in bundle 1: %+v, GPUs %v", rc, info.GPUs)
	}
	info, err = tCtxInfo.Options(rayo.InPlacementGroup(pg, -1)).Remote().Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rc := info.RC; rc.PlacementGroupID != pg.ID() || rc.BundleIndex != -1 || rc.Resources["CPU"] != 1 || len(rc.Resources) != 1 {
		t.Fatalf("a task in any bundle: %+v", rc)
	}
	if err := rayo.RemovePlacementGroup(ctx, pg); err != nil {
		t.Fatal(err)
	}

	// An actor with a GPU: its constructor and methods, methods running at
	// once each seeing its own call, and a call to itself.
	a, err := ctxActor.Options(rayo.NumGPUs(1), rayo.MaxConcurrency(3)).New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ctor, err := ctxCtorInfo.Remote(a).Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rc := ctor.RC; rc.ActorID != a.ID() || rc.TaskID != a.ID() || rc.JobID != drv.JobID || rc.Resources["GPU"] != 1 || len(ctor.GPUs) != 1 {
		t.Fatalf("the constructor's context: %+v, GPUs %v", rc, ctor.GPUs)
	}
	dir := t.TempDir()
	r1, r2 := ctxInfoAt.Remote(a, dir, 2), ctxInfoAt.Remote(a, dir, 2)
	for _, r := range []rayo.ObjectRef[ctxInfo]{r1, r2} {
		info, err := r.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rc := info.RC; rc.TaskID != r.ID() || rc.ActorID != a.ID() || rc.WorkerID != ctor.RC.WorkerID ||
			!slices.Equal(info.GPUs, ctor.GPUs) || info.Cuda != strconv.Itoa(ctor.GPUs[0]) {
			t.Fatalf("a method's context: %+v, GPUs %v, CUDA_VISIBLE_DEVICES %q (ref %s)", rc, info.GPUs, info.Cuda, r.ID())
		}
	}
	call := ctxCallSelf.Remote(a)
	got, err := call.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || got[0] != a.ID() || got[1] != got[2] || got[3] != call.ID() || got[1] == got[3] {
		t.Fatalf("CallSelf: %v (actor %s, call %s)", got, a.ID(), call.ID())
	}
}

package rayo_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/rayo-dev/rayo"
)

func TestPlacementGroupBasics(t *testing.T) {
	ctx := initEmbedded(t) // one node, 2 CPUs
	pg, err := rayo.NewPlacementGroup(ctx, []map[string]float64{{"CPU": 1}, {"CPU": 1}}, rayo.STRICT_PACK)
	if err != nil {
		t.Fatal(err)
	}
	if err := pg.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	nodes, err := pg.BundleNodes(ctx)
	if err != nil || len(nodes) != 2 || nodes[0] == "" || nodes[0] != nodes[1] {
		t.Fatalf("STRICT_PACK bundles: %v %v", nodes, err)
	}
	for _, idx := range []int{0, 1, -1} {
		v, err := tAdd.Options(rayo.InPlacementGroup(pg, idx)).Remote(idx, 10).Get(ctx)
		if err != nil || v != idx+10 {
			t.Fatalf("task in bundle %d: %v %v", idx, v, err)
		}
	}
	// The group holds both CPUs: a plain task waits until it is removed.
	blocked := tAdd.Remote(1, 1)
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := blocked.Get(short); !errors.Is(err, rayo.ErrGetTimeout) {
		t.Fatalf("a task outside a group that holds every CPU ran: %v", err)
	}
	// An actor in the group ends when the group is removed.
	c, err := counterActor.Options(rayo.InPlacementGroup(pg, 0), rayo.NumCPUs(1)).New(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := cIncr.Remote(c, 1).Get(ctx); err != nil || v != 1 {
		t.Fatalf("actor in group: %v %v", v, err)
	}
	if err := rayo.RemovePlacementGroup(ctx, pg); err != nil {
		t.Fatal(err)
	}
	if v, err := blocked.Get(ctx); err != nil || v != 2 {
		t.Fatalf("after removal the plain task runs: %v %v", v, err)
	}
	if _, err := cIncr.Remote(c, 1).Get(ctx); !errors.Is(err, rayo.ErrActorDied) {
		t.Fatalf("actor in a removed group: %v", err)
	}
	if err := pg.Ready(ctx); !errors.Is(err, rayo.ErrPlacementGroupRemoved) {
		t.Fatalf("Ready of a removed group: %v", err)
	}
}

func TestPlacementGroupInfeasible(t *testing.T) {
	ctx := initEmbedded(t)
	for _, tc := range []struct {
		bundles  []map[string]float64
		strategy rayo.PlacementStrategy
	}{
		{[]map[string]float64{{"CPU": 100}}, rayo.PACK},
		{[]map[string]float64{{"CPU": 1}, {"CPU": 1}}, rayo.STRICT_SPREAD}, // one node only
	} {
		pg, err := rayo.NewPlacementGroup(ctx, tc.bundles, tc.strategy)
		if err != nil {
			t.Fatal(err)
		}
		short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		err = pg.Ready(short)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%v %v: Ready: %v, want a timeout", tc.strategy, tc.bundles, err)
		}
		nodes, _ := pg.BundleNodes(ctx)
		for _, n := range nodes {
			if n != "" {
				t.Fatalf("%v: a bundle of an unplaceable group was reserved: %v", tc.strategy, nodes)
			}
		}
		if err := rayo.RemovePlacementGroup(ctx, pg); err != nil {
			t.Fatal(err)
		}
	}
	// Atomic: with a 1-CPU bundle placeable and a 100-CPU one not, nothing
	// is held: a 2-CPU task still runs.
	pg, err := rayo.NewPlacementGroup(ctx, []map[string]float64{{"CPU": 1}, {"CPU": 100}}, rayo.PACK)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := tAdd.Options(rayo.NumCPUs(2)).Remote(1, 2).Get(ctx); err != nil || v != 3 {
		t.Fatalf("a half-reserved group held resources: %v %v", v, err)
	}
	_ = rayo.RemovePlacementGroup(ctx, pg)
	if _, err := rayo.NewPlacementGroup(ctx, nil, rayo.PACK); !errors.Is(err, rayo.ErrInvalidOption) {
		t.Fatalf("no bundles: %v", err)
	}
	if _, err := rayo.NewPlacementGroup(ctx, []map[string]float64{{"CPU": -1}}, rayo.PACK); !errors.Is(err, rayo.ErrInvalidOption) {
		t.Fatalf("negative bundle: %v", err)
	}
}

var tCudaDevices = rayo.Register[string]("test.cudaDevices", func() string { return os.Getenv("CUDA_VISIBLE_DEVICES") })

// A node told it has 2 GPUs (none need exist) hands out IDs 0 and 1, and a
// task sees exactly its own in CUDA_VISIBLE_DEVICES.
func TestGPUAssignment(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := rayo.Init(ctx, rayo.WithNumCPUs(4), rayo.WithNumGPUs(2), rayo.WithLogToDriver(false), rayo.WithTempDir(t.TempDir())); err != nil {
		t.Fatal(err)
	}
	defer rayo.Shutdown()
	// Two one-GPU tasks that run at once (each waits for the other) get
	// different GPUs.
	dir := t.TempDir()
	a := tGPUBarrier.Options(rayo.NumGPUs(1)).Remote(dir, 2)
	b := tGPUBarrier.Options(rayo.NumGPUs(1)).Remote(dir, 2)
	va, err := a.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	vb, err := b.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{va: true, vb: true}
	if !got["0"] || !got["1"] {
		t.Fatalf("two concurrent 1-GPU tasks saw %q and %q, want 0 and 1", va, vb)
	}
	both, err := tCudaDevices.Options(rayo.NumGPUs(2)).Remote().Get(ctx)
	if err != nil || both != "0,1" {
		t.Fatalf("a 2-GPU task saw %q %v", both, err)
	}
	none, err := tCudaDevices.Remote().Get(ctx)
	if err != nil || none != "" {
		t.Fatalf("a task without GPUs saw %q %v", none, err)
	}
	half, err := tCudaDevices.Options(rayo.NumGPUs(0.5)).Remote().Get(ctx)
	if err != nil || (half != "0" && half != "1") {
		t.Fatalf("a half-GPU task saw %q %v", half, err)
	}
}

var tGPUBarrier = rayo.Register[string]("test.gpuBarrier", func(ctx context.Context, dir string, n int) (string, error) {
	if _, err := barrierWait(ctx, dir, n); err != nil {
		return "", err
	}
	return os.Getenv("CUDA_VISIBLE_DEVICES"), nil
})

func TestGPUInPlacementGroup(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := rayo.Init(ctx, rayo.WithNumCPUs(4), rayo.WithNumGPUs(2), rayo.WithLogToDriver(false), rayo.WithTempDir(t.TempDir())); err != nil {
		t.Fatal(err)
	}
	defer rayo.Shutdown()
	pg, err := rayo.NewPlacementGroup(ctx, []map[string]float64{{"CPU": 1, "GPU": 1}, {"CPU": 1, "GPU": 1}}, rayo.PACK)
	if err != nil {
		t.Fatal(err)
	}
	if err := pg.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i := 0; i < 2; i++ {
		v, err := tCudaDevices.Options(rayo.InPlacementGroup(pg, i), rayo.NumGPUs(1)).Remote().Get(ctx)
		if err != nil || (v != "0" && v != "1") {
			t.Fatalf("a 1-GPU task in bundle %d saw %q %v", i, v, err)
		}
		seen[v] = true
	}
	if len(seen) != 2 {
		t.Fatalf("the two bundles' tasks saw the same GPU: %v", seen)
	}
}

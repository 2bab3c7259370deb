package rayo_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rayo-dev/rayo"
)

// tClusterCPU asks the cluster's shape from a worker.
var tClusterCPU = rayo.Register[float64]("test.clusterCPU", func(ctx context.Context) (float64, error) {
	r, err := rayo.ClusterResources(ctx)
	return r["CPU"], err
})

func TestClusterShape(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := rayo.Init(ctx, rayo.WithNumCPUs(2), rayo.WithResources(map[string]float64{"foo": 3}),
		rayo.WithLogToDriver(false), rayo.WithTempDir(t.TempDir())); err != nil {
		t.Fatal(err)
	}
	defer rayo.Shutdown()
	nodes, err := rayo.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 1 {
		t.Fatalf("%d nodes, want 1: %+v", len(nodes), nodes)
	}
	n := nodes[0]
	if n.NodeID != rayo.NodeID() || !n.Alive || n.State != "ALIVE" || !n.IsHead || n.Address == "" || n.Hostname == "" ||
		n.Resources["CPU"] != 2 || n.Resources["foo"] != 3 || n.Labels == nil || n.Started.IsZero() || n.ObjectStoreMemory <= 0 {
		t.Fatalf("the node: %+v", n)
	}
	total, err := rayo.ClusterResources(ctx)
	if err != nil || total["CPU"] != 2 || total["foo"] != 3 {
		t.Fatalf("ClusterResources: %v %v", total, err)
	}
	// An actor holding 2 foo leaves 1 free (as of a heartbeat).
	c, err := counterActor.Options(rayo.Resources(map[string]float64{"foo": 2})).New(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "1 foo free", func() bool {
		a, err := rayo.AvailableResources(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return a["foo"] == 1
	})
	if err := rayo.Kill(ctx, c, true); err != nil {
		t.Fatal(err)
	}
	// A placement group's bundle resources show, as in Ray.
	pg, err := rayo.NewPlacementGroup(ctx, []map[string]float64{{"foo": 3}}, rayo.PACK)
	if err != nil {
		t.Fatal(err)
	}
	if err := pg.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the bundle's resources", func() bool {
		total, err := rayo.ClusterResources(ctx)
		if err != nil {
			t.Fatal(err)
		}
		a, err := rayo.AvailableResources(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// All foo is in the bundle: none is free outside it, and a
		// resource with nothing free is left out.
		_, freeFoo := a["foo"]
		return total["foo_group_"+pg.ID()] == 3 && total["foo_group_0_"+pg.ID()] == 3 && !freeFoo &&
			a["foo_group_"+pg.ID()] == 3
	})
	// From a worker, too.
	if cpu, err := tClusterCPU.Remote().Get(ctx); err != nil || cpu != 2 {
		t.Fatalf("ClusterResources in a task: %v %v", cpu, err)
	}
	short, cancelShort := context.WithCancel(ctx)
	cancelShort()
	if _, err := rayo.Nodes(short); !errors.Is(err, context.Canceled) {
		t.Fatalf("Nodes with a cancelled ctx: %v", err)
	}
}

func TestClusterAndKVNotInitialized(t *testing.T) {
	ctx := context.Background()
	if _, err := rayo.Nodes(ctx); !errors.Is(err, rayo.ErrNotInitialized) {
		t.Fatalf("Nodes: %v", err)
	}
	if _, err := rayo.ClusterResources(ctx); !errors.Is(err, rayo.ErrNotInitialized) {
		t.Fatalf("ClusterResources: %v", err)
	}
	if _, err := rayo.AvailableResources(ctx); !errors.Is(err, rayo.ErrNotInitialized) {
		t.Fatalf("AvailableResources: %v", err)
	}
	if _, err := rayo.KVPut(ctx, "k", nil); !errors.Is(err, rayo.ErrNotInitialized) {
		t.Fatalf("KVPut: %v", err)
	}
	if _, err := rayo.KVGet(ctx, "k"); !errors.Is(err, rayo.ErrNotInitialized) {
		t.Fatalf("KVGet: %v", err)
	}
	if _, err := rayo.KVDelete(ctx, "k"); !errors.Is(err, rayo.ErrNotInitialized) {
		t.Fatalf("KVDelete: %v", err)
	}
	if _, err := rayo.KVList(ctx, ""); !errors.Is(err, rayo.ErrNotInitialized) {
		t.Fatalf("KVList: %v", err)
	}
}

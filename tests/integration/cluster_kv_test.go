package integration_test

// The cluster's shape (Nodes, ClusterResources, AvailableResources) and its
// key-value store, on real processes: three nodes, a head restart, a node
// killed.

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/internal/testcluster"
)

// kvGetTask reads the store from a worker on the "other" node.
var kvGetTask = rayo.Register[string]("itest.kvGet", func(ctx context.Context, key string) (string, error) {
	v, err := rayo.KVGet(ctx, key, rayo.KVNamespace("itest"))
	return string(v), err
})

// ctxNodeTask reports where it runs, by its runtime context.
var ctxNodeTask = rayo.Register[[]string]("itest.ctxNode", func(ctx context.Context) ([]string, error) {
	rc, err := rayo.GetRuntimeContext(ctx)
	return []string{rc.NodeID, rc.TaskID, rc.JobID}, err
})

func TestClusterShapeAndKVAcrossHeadRestart(t *testing.T) {
	c, driverNode := headRestartCluster(t)
	ctx := withTimeout(t, 3*time.Minute)
	if err := rayo.Init(ctx, rayo.WithAddress(c.Address()), rayo.WithToken(c.Token()), rayo.WithLogToDriver(false),
		rayo.WithNodeAddress(driverNode.Addr), rayo.WithHeadTimeout(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rayo.Shutdown)

	nodes, err := rayo.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]rayo.Node{}
	for _, n := range nodes {
		byID[n.NodeID] = n
	}
	if len(nodes) != 3 || len(byID) != 3 {
		t.Fatalf("%d nodes, want 3: %+v", len(nodes), nodes)
	}
	var other *testcluster.Proc
	for _, p := range append(c.NodeProcs(), c.Head()) {
		n, ok := byID[p.NodeID]
		if !ok || !n.Alive || n.State != "ALIVE" || n.Address != p.Addr || n.IsHead != p.IsHead || n.Resources["CPU"] != p.Spec.CPUs {
			t.Fatalf("node %s (%s): %+v", p.NodeID, p.Name, n)
		}
		if p.Spec.Resources["other"] > 0 {
			other = p
		}
	}
	if byID[driverNode.NodeID].Resources["special"] != 1 {
		t.Fatalf("the special node: %+v", byID[driverNode.NodeID])
	}
	total, err := rayo.ClusterResources(ctx)
	if err != nil || total["CPU"] != 4 || total["special"] != 1 || total["other"] != 1 {
		t.Fatalf("ClusterResources: %v %v", total, err)
	}
	c.WaitFor(t, 30*time.Second, func() bool {
		a, err := rayo.AvailableResources(ctx)
		return err == nil && a["CPU"] == 4 && a["other"] == 1
	}, "every resource to be free")

	// The store: written before the head dies, read after it is back.
	if added, err := rayo.KVPut(ctx, "cfg", []byte("v1"), rayo.KVNamespace("itest")); err != nil || !added {
		t.Fatalf("KVPut: %v %v", added, err)
	}
	if added, err := rayo.KVPut(ctx, "lock", []byte("driver"), rayo.KVNamespace("itest"), rayo.KVNoOverwrite()); err != nil || !added {
		t.Fatalf("create-only KVPut: %v %v", added, err)
	}
	if _, err := rayo.KVPut(ctx, "gone", []byte("x"), rayo.KVNamespace("itest")); err != nil {
		t.Fatal(err)
	}
	if deleted, err := rayo.KVDelete(ctx, "gone", rayo.KVNamespace("itest")); err != nil || !deleted {
		t.Fatalf("KVDelete: %v %v", deleted, err)
	}
	c.KillNode(t, c.Head())
	c.RestartHead(t)
	if v, err := rayo.KVGet(ctx, "cfg", rayo.KVNamespace("itest")); err != nil || string(v) != "v1" {
		t.Fatalf("KVGet after the restart: %q %v", v, err)
	}
	if _, err := rayo.KVGet(ctx, "gone", rayo.KVNamespace("itest")); !errors.Is(err, rayo.ErrKVNotFound) {
		t.Fatalf("a deleted key after the restart: %v", err)
	}
	if added, err := rayo.KVPut(ctx, "lock", []byte("late"), rayo.KVNamespace("itest"), rayo.KVNoOverwrite()); err != nil || added {
		t.Fatalf("create-only KVPut of a kept key after the restart: %v %v", added, err)
	}
	if keys, err := rayo.KVList(ctx, "", rayo.KVNamespace("itest")); err != nil || !slices.Equal(keys, []string{"cfg", "lock"}) {
		t.Fatalf("KVList after the restart: %v %v", keys, err)
	}
	// A task on the other node: its runtime context names that node.
	ref := ctxNodeTask.Options(rayo.Resources(map[string]float64{"other": 1})).Remote()
	drv, err := rayo.GetRuntimeContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ref.Get(ctx); err != nil || !slices.Equal(got, []string{other.NodeID, ref.ID(), drv.JobID}) {
		t.Fatalf("a task's runtime context on node %s: %v %v", other.NodeID, got, err)
	}
	if drv.NodeID != driverNode.NodeID {
		t.Fatalf("the driver's node %s, want %s", drv.NodeID, driverNode.NodeID)
	}
	// A worker on another node reads the same store.
	if v, err := kvGetTask.Options(rayo.Resources(map[string]float64{"other": 1})).Remote("lock").Get(ctx); err != nil || v != "driver" {
		t.Fatalf("KVGet in a task: %q %v", v, err)
	}

	// A node killed: listed dead, its resources gone from the totals.
	c.KillNode(t, other)
	nodes, err = rayo.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if n.NodeID == other.NodeID && (n.Alive || n.State != "DEAD" || len(n.Available) != 0) {
			t.Fatalf("the killed node: %+v", n)
		}
	}
	total, err = rayo.ClusterResources(ctx)
	if err != nil || total["CPU"] != 2 || total["other"] != 0 {
		t.Fatalf("ClusterResources without the killed node: %v %v", total, err)
	}
	// A node that joins, with labels.
	added := c.AddNode(t, testcluster.NodeSpec{CPUs: 1, Labels: map[string]string{"zone": "z1"}})
	nodes, err = rayo.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, n := range nodes {
		if n.NodeID == added.NodeID {
			found = n.Alive && n.Labels["zone"] == "z1" && n.Resources["CPU"] == 1 && !n.IsHead
		}
	}
	if !found || len(nodes) != 4 {
		t.Fatalf("after a node joined: %+v", nodes)
	}
}

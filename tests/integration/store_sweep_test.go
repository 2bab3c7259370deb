package integration_test

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/internal/objstore"
	"github.com/rayo-dev/rayo/internal/testcluster"
)

// A node daemon killed with kill -9 leaves no worker process, and the next
// daemon to start on the machine removes its store file (its lock died
// with it), while the live daemons' stores stay.
func TestKilledNodeLeavesNoStoreNorWorkers(t *testing.T) {
	c := startCluster(t)
	connect(t, c)
	ctx := withTimeout(t, time.Minute)
	victim := specialProc(t, c)
	nodeID := victim.NodeID
	w, err := where.Options(rayo.Resources(special)).Remote().Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if w.NodeID != nodeID {
		t.Fatalf("the task ran on %s, want %s", w.NodeID, nodeID)
	}
	store := objstore.SegmentPath("/dev/shm", nodeID, victim.Pid)
	if _, err := os.Stat(store); err != nil {
		t.Skipf("the node's store is not where this test looks (%v)", err)
	}
	var headStore string
	for _, n := range c.Nodes(t) {
		if n.Info.NodeID == c.HeadNodeID() {
			headStore = objstore.SegmentPath("/dev/shm", n.Info.NodeID, n.Info.Pid)
		}
	}

	c.KillNode(t, victim)
	c.WaitFor(t, 10*time.Second, func() bool {
		for _, p := range testcluster.Processes() {
			if p.Env["RAYO_NODE_ID"] == nodeID {
				return false
			}
		}
		return true
	}, "the killed node's workers (pid "+strconv.Itoa(w.Pid)+") to exit")

	c.AddNode(t, testcluster.NodeSpec{CPUs: 1})
	c.WaitFor(t, 10*time.Second, func() bool {
		_, err := os.Stat(store)
		return os.IsNotExist(err)
	}, "the dead node's store file to be removed")
	if _, err := os.Stat(headStore); err != nil {
		t.Fatalf("the live head node's store was removed: %v", err)
	}
}

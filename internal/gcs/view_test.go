package gcs

import (
	"context"
	"testing"
	"time"

	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/sched"
)

// Heartbeats carry the cluster view only when it changed since the copy
// the node holds: an idle cluster's heartbeats cost the head no view at
// all, which at a hundred nodes beating five times a second is most of
// its idle work.
func TestHeartbeatsCarryTheViewOnlyWhenItChanged(t *testing.T) {
	_, c := start(t)
	ctx := context.Background()
	register := func(id string) {
		t.Helper()
		info := &protocol.NodeInfo{NodeID: id, Addr: "127.0.0.1:1", Total: sched.Resources{"CPU": sched.Unit}}
		if err := c.Call(ctx, protocol.HeadRegisterNode, info, &protocol.RegisterNodeReply{}); err != nil {
			t.Fatal(err)
		}
	}
	beat := func(id string, version uint64, avail sched.Resources) protocol.HeartbeatReply {
		t.Helper()
		var hb protocol.HeartbeatReply
		if err := c.Call(ctx, protocol.HeadHeartbeat, &protocol.HeartbeatRequest{NodeID: id, Available: avail, ViewVersion: version}, &hb); err != nil || hb.Unknown {
			t.Fatalf("heartbeat: %+v %v", hb, err)
		}
		return hb
	}
	idle := sched.Resources{"CPU": sched.Unit}
	register("n1")
	register("n2")
	first := beat("n1", 0, idle)
	if len(first.Nodes) != 2 || first.ViewVersion == 0 {
		t.Fatalf("a node without a view gets it: %d nodes, version %d", len(first.Nodes), first.ViewVersion)
	}
	v := beat("n2", 0, idle).ViewVersion
	if again := beat("n1", v, idle); again.Nodes != nil || again.ViewVersion != v {
		t.Fatalf("an idle heartbeat with the current view: %d nodes, version %d (want none, %d)", len(again.Nodes), again.ViewVersion, v)
	}
	// A change of load makes a new view within half a heartbeat period
	// (a join or a death at once), which the next heartbeat of every
	// node carries.
	beat("n2", v, sched.Resources{})
	var got protocol.HeartbeatReply
	deadline := time.Now().Add(10 * time.Second)
	for got = beat("n1", v, idle); got.ViewVersion == v; got = beat("n1", v, idle) {
		if time.Now().After(deadline) {
			t.Fatal("n2's change of load never reached n1's view")
		}
		time.Sleep(time.Millisecond)
	}
	if len(got.Nodes) != 2 {
		t.Fatalf("n1 after n2's change: %d nodes", len(got.Nodes))
	}
	for _, st := range got.Nodes {
		if st.Info.NodeID == "n2" && !st.Available.IsZero() {
			t.Fatalf("n1's view of n2: %v, want nothing available", st.Available)
		}
	}
	register("n3")
	if hb := beat("n1", got.ViewVersion, idle); len(hb.Nodes) != 3 {
		t.Fatalf("after a node joined: %d nodes in the view", len(hb.Nodes))
	}
}

package gcs

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
	"github.com/rayo-dev/rayo/internal/sched"
)

// TestHeartbeatReplyWire: the hand-written reply is byte for byte what
// the library writes for protocol.HeartbeatReply, and decodes into it.
func TestHeartbeatReplyWire(t *testing.T) {
	nodes := []protocol.NodeState{
		{Info: protocol.NodeInfo{NodeID: "a", Addr: "10.0.0.1:1", Total: sched.Resources{"CPU": 1}}, Available: sched.Resources{"CPU": 5000}, Alive: true, Workers: 2},
		{Info: protocol.NodeInfo{NodeID: "b"}, Draining: true, DrainBy: 7, Reason: "why"},
	}
	for _, tc := range []struct {
		name string
		want protocol.HeartbeatReply
	}{
		{"unknown", protocol.HeartbeatReply{Unknown: true}},
		{"nodes", protocol.HeartbeatReply{Nodes: nodes}},
		{"nodes and dead jobs", protocol.HeartbeatReply{Nodes: nodes, DeadJobs: []string{"j1", "j2"}}},
		{"no nodes", protocol.HeartbeatReply{Nodes: []protocol.NodeState{}}},
		{"current view", protocol.HeartbeatReply{ViewVersion: 1765130000123456789}},
		{"nodes, version and dead jobs", protocol.HeartbeatReply{Nodes: nodes, ViewVersion: 7, DeadJobs: []string{"j1"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := rpc.Marshal(&tc.want)
			if err != nil {
				t.Fatal(err)
			}
			r := &heartbeatReply{unknown: tc.want.Unknown, viewVersion: tc.want.ViewVersion, deadJobs: tc.want.DeadJobs}
			if tc.want.Nodes != nil {
				if r.nodes, err = rpc.Marshal(tc.want.Nodes); err != nil {
					t.Fatal(err)
				}
			}
			got, err := rpc.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("wire form differs:\n got %x\nwant %x", got, want)
			}
			var back protocol.HeartbeatReply
			if err := rpc.Unmarshal(got, &back); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, tc.want) {
				t.Errorf("decoded %+v, want %+v", back, tc.want)
			}
		})
	}
}

package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/sched"
)

func mustRes(t *testing.T, m map[string]float64) sched.Resources {
	t.Helper()
	r, err := sched.FromFloat(m)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// rayo status showed a DEAD node with the usage of its last heartbeat as
// if current ("CPU 3/4", workers): a dead node is shown apart, with when
// it died and no usage; JSON marks what it last reported as such.
func TestStatusShowsDeadNodesApart(t *testing.T) {
	died := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	st := &protocol.ClusterStatusReply{Nodes: []protocol.NodeState{
		{Info: protocol.NodeInfo{NodeID: "alivenode", Addr: "127.0.0.1:1", IsHead: true, Total: mustRes(t, map[string]float64{"CPU": 2})},
			Available: mustRes(t, map[string]float64{"CPU": 1}), Alive: true, Workers: 1},
		{Info: protocol.NodeInfo{NodeID: "deadnode", Addr: "127.0.0.1:2", Total: mustRes(t, map[string]float64{"CPU": 4})},
			Available: mustRes(t, map[string]float64{"CPU": 1}), Alive: false, Workers: 3, DiedAt: died.UnixMilli()},
	}}
	rep := buildStatus(st)

	var text bytes.Buffer
	printStatus(&text, rep)
	out := text.String()
	table, deadPart, ok := strings.Cut(out, "Dead nodes")
	if !ok {
		t.Fatalf("no dead nodes section:\n%s", out)
	}
	if strings.Contains(table, "deadnode") {
		t.Errorf("the dead node is in the live nodes' table:\n%s", out)
	}
	if !strings.Contains(table, "alivenode (head)") || !strings.Contains(table, "CPU 1/2") {
		t.Errorf("the live node's row is missing:\n%s", out)
	}
	deadPart, _, _ = strings.Cut(deadPart, "\nResources")
	if !strings.Contains(deadPart, "deadnode") || !strings.Contains(deadPart, "DEAD") || !strings.Contains(deadPart, "2026-12-01T10:00:00Z") {
		t.Errorf("the dead node's row lacks its state or time of death:\n%s", deadPart)
	}
	if strings.Contains(out, "CPU 3/4") || strings.Contains(deadPart, "CPU") {
		t.Errorf("the dead node's last usage is shown as current:\n%s", out)
	}
	if !strings.Contains(out, "1/2 CPU") {
		t.Errorf("the cluster's resources should count the live node only:\n%s", out)
	}

	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Nodes []map[string]any `json:"nodes"`
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	dead := back.Nodes[1]
	if dead["state"] != "DEAD" || dead["available"] != nil || dead["workers"] != float64(0) ||
		dead["end_time_ms"] != float64(died.UnixMilli()) || dead["last_known_available"] == nil {
		t.Errorf("the dead node in JSON: %v", dead)
	}
	if alive := back.Nodes[0]; alive["available"] == nil || alive["end_time_ms"] != nil || alive["last_known_available"] != nil {
		t.Errorf("the live node in JSON: %v", alive)
	}
}

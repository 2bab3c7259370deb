package cluster

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rayo-dev/rayo/internal/errs"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
)

func TestPickNode(t *testing.T) {
	host, _ := os.Hostname()
	node := func(id string, alive, head bool, hostname string) protocol.NodeState {
		return protocol.NodeState{Alive: alive, Info: protocol.NodeInfo{NodeID: id, Addr: id + ":1", IsHead: head, Hostname: hostname}}
	}
	for _, tc := range []struct {
		name  string
		nodes []protocol.NodeState
		want  string
	}{
		{"none", nil, ""},
		{"only dead", []protocol.NodeState{node("a", false, true, host)}, ""},
		{"this host first", []protocol.NodeState{node("a", true, true, "elsewhere"), node("b", true, false, host)}, "b"},
		{"the head's on this host", []protocol.NodeState{node("a", true, false, host), node("b", true, true, host)}, "b"},
		{"else the head's", []protocol.NodeState{node("a", true, false, "x"), node("b", true, true, "y")}, "b"},
		{"a dead head's skipped", []protocol.NodeState{node("a", true, false, "x"), node("b", false, true, host)}, "a"},
	} {
		addr, id := PickNode(tc.nodes)
		if id != tc.want || (id != "" && addr != id+":1") {
			t.Errorf("%s: picked %q at %q, want %q", tc.name, id, addr, tc.want)
		}
	}
}

// A driver joins a cluster started here: the handshake picks its node,
// uploads the test binary, and the driver registers a job; a wrong token,
// an unknown node and a failed registration fail with typed errors and
// leave nothing running.
func TestJoinAndConnectDriver(t *testing.T) {
	dir := t.TempDir()
	cfg := config(dir)
	cfg.Dashboard = nil
	c, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { c.Stop(); goleak.VerifyNone(t) }()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	head := c.Head().Addr()

	if _, err := Join(ctx, JoinConfig{HeadAddr: head, Token: "wrong"}); !errors.Is(err, errs.ErrUnauthenticated) {
		t.Errorf("a wrong token: %v", err)
	}
	if _, err := Join(ctx, JoinConfig{HeadAddr: head, Token: token, NodeAddr: "127.0.0.1:1"}); !errors.Is(err, errs.ErrInvalidOption) {
		t.Errorf("a node that is not the cluster's: %v", err)
	}
	j, err := Join(ctx, JoinConfig{HeadAddr: head, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	if j.NodeID != c.Node().ID() || j.NodeAddr != c.Node().Addr() {
		t.Errorf("joined through %s at %s, want %s at %s", j.NodeID, j.NodeAddr, c.Node().ID(), c.Node().Addr())
	}
	exe, _ := os.Executable()
	st, _ := os.Stat(exe)
	if j.Binary.Hash == "" || j.Binary.Size != st.Size() {
		t.Errorf("binary %+v, want the test binary's %d bytes", j.Binary, st.Size())
	}
	hc, err := rpc.Dial(ctx, head, token)
	if err != nil {
		t.Fatal(err)
	}
	var has protocol.HasBinaryReply
	err = hc.Call(ctx, protocol.HeadHasBinary, &protocol.HasBinaryRequest{Hash: j.Binary.Hash}, &has)
	_ = hc.Close()
	if err != nil || !has.Has {
		t.Errorf("the head does not have the uploaded binary: %v %v", has.Has, err)
	}
	// Joining again finds the binary there (no second upload to fail on).
	if j2, err := Join(ctx, JoinConfig{HeadAddr: head, Token: token}); err != nil || j2.Binary.Hash != j.Binary.Hash {
		t.Errorf("a second join: %+v %v", j2, err)
	}

	dc := DriverConfig{HeadAddr: head, NodeAddr: j.NodeAddr, Token: token, Listen: "127.0.0.1:0", Binary: j.Binary, Log: quiet,
		Env: map[string]string{"K": "V"}}
	rt, err := ConnectDriver(ctx, dc)
	if err != nil {
		t.Fatal(err)
	}
	job := rt.Job()
	rt.Close()
	if job.JobID == "" || job.DriverAddr == "" || job.Env["K"] != "V" || !strings.HasPrefix(job.Namespace, "anonymous-"+job.JobID+"-") {
		t.Errorf("the driver's job: %+v", job)
	}
	dc.Namespace = "ns"
	if rt, err = ConnectDriver(ctx, dc); err != nil || rt.Job().Namespace != "ns" {
		t.Errorf("a namespace: %v", err)
	}
	if rt != nil {
		rt.Close()
	}
	// A registration the head refuses: the runtime is closed, not left.
	bad := dc
	bad.HeadAddr = "127.0.0.1:" + strconv.Itoa(1)
	short, stop := context.WithTimeout(ctx, 2*time.Second)
	defer stop()
	if rt, err := ConnectDriver(short, bad); err == nil {
		rt.Close()
		t.Error("registered a job with no head")
	}
}

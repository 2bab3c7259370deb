package gcs

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
	"github.com/rayo-dev/rayo/internal/sched"
)

func startOn(t *testing.T, dataDir, binDir string, grace time.Duration) (*Server, *rpc.Client) {
	t.Helper()
	s, err := Start(Config{Token: "tok", BinariesDir: binDir, DataDir: dataDir, HeartbeatPeriod: 10 * time.Millisecond,
		MissedHeartbeats: 3, RecoveryGrace: grace, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	c, err := rpc.Dial(context.Background(), s.Addr(), "tok")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return s, c
}

// nodePeer is the node side of the head's calls: it records the leases
// and bundles the head gives back.
type nodePeer struct {
	addr     string
	mu       sync.Mutex
	returned []string
	bundles  []string
}

func startNodePeer(t *testing.T) *nodePeer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &nodePeer{addr: ln.Addr().String()}
	srv := rpc.NewServer("tok", slog.New(slog.NewTextHandler(io.Discard, nil)))
	rpc.Register(srv, protocol.NodeReturnLease, func(_ context.Context, req *protocol.ReturnLeaseRequest) (*protocol.Empty, error) {
		p.mu.Lock()
		p.returned = append(p.returned, req.LeaseID)
		p.mu.Unlock()
		return &protocol.Empty{}, nil
	})
	rpc.Register(srv, protocol.NodeReturnBundle, func(_ context.Context, req *protocol.BundleRequest) (*protocol.Empty, error) {
		p.mu.Lock()
		p.bundles = append(p.bundles, req.PGID)
		p.mu.Unlock()
		return &protocol.Empty{}, nil
	})
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Close)
	return p
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func status(t *testing.T, c *rpc.Client) *protocol.ClusterStatusReply {
	t.Helper()
	var st protocol.ClusterStatusReply
	if err := c.Call(context.Background(), protocol.HeadClusterStatus, &protocol.ClusterStatusRequest{}, &st); err != nil {
		t.Fatal(err)
	}
	return &st
}

// A head started on the directory of one that died takes up its nodes,
// jobs and key-value store; what does not come back within the grace is
// declared gone.
func TestRecoveredStateAndGrace(t *testing.T) {
	dataDir, binDir := t.TempDir(), t.TempDir()
	ctx := context.Background()
	peer := startNodePeer(t)
	s1, c1 := startOn(t, dataDir, binDir, time.Hour)
	node := &protocol.NodeInfo{NodeID: "n1", Addr: peer.addr, Total: sched.Resources{"CPU": 2 * sched.Unit}}
	if err := c1.Call(ctx, protocol.HeadRegisterNode, node, nil); err != nil {
		t.Fatal(err)
	}
	gone := &protocol.NodeInfo{NodeID: "n2", Addr: "127.0.0.1:1", Total: sched.Resources{"CPU": sched.Unit}}
	if err := c1.Call(ctx, protocol.HeadRegisterNode, gone, nil); err != nil {
		t.Fatal(err)
	}
	var job protocol.RegisterJobReply
	if err := c1.Call(ctx, protocol.HeadRegisterJob, &protocol.RegisterJobRequest{DriverPid: 1}, &job); err != nil {
		t.Fatal(err)
	}
	if err := c1.Call(ctx, protocol.HeadKVPut, &protocol.KVPutRequest{Namespace: "ns", Key: "k", Value: []byte("v1")}, nil); err != nil {
		t.Fatal(err)
	}
	s1.Stop() // as if killed: nothing is marked dead or ended on the way out

	// A short grace: n2 and the job are given up unless they come back.
	s2, c2 := startOn(t, dataDir, binDir, 300*time.Millisecond)
	var got protocol.KVGetReply
	if err := c2.Call(ctx, protocol.HeadKVGet, &protocol.KVKeyRequest{Namespace: "ns", Key: "k"}, &got); err != nil || string(got.Value) != "v1" {
		t.Fatalf("KV after the restart: %q, %v", got.Value, err)
	}
	st := status(t, c2)
	if len(st.Nodes) != 2 || !st.Nodes[0].Alive || !st.Nodes[1].Alive {
		t.Fatalf("recovered nodes: %+v", st.Nodes)
	}
	if len(st.Jobs) != 1 || !st.Jobs[0].Alive {
		t.Fatalf("recovered jobs: %+v", st.Jobs)
	}
	// n1 comes back, holding a lease and a bundle no record names: the
	// head gives them back.
	node.HeadLeases = []protocol.HeldLease{{LeaseID: "orphan", WorkerID: "w"}}
	node.Bundles = []protocol.HeldBundle{{PGID: "pg-unknown", Index: 0, Committed: true}}
	if err := c2.Call(ctx, protocol.HeadRegisterNode, node, nil); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the orphans to be given back", func() bool {
		peer.mu.Lock()
		defer peer.mu.Unlock()
		return slices.Equal(peer.returned, []string{"orphan"}) && slices.Equal(peer.bundles, []string{"pg-unknown"})
	})
	// The job's driver attaches again on its connection.
	var again protocol.RegisterJobReply
	if err := c2.Call(ctx, protocol.HeadRegisterJob, &protocol.RegisterJobRequest{ReattachJobID: job.JobID}, &again); err != nil || again.JobID != job.JobID {
		t.Fatalf("reattach: %+v, %v", again, err)
	}
	if err := c2.Call(ctx, protocol.HeadRegisterJob, &protocol.RegisterJobRequest{ReattachJobID: "ffffffff"}, nil); rpc.CodeOf(err) != protocol.CodeJobEnded {
		t.Fatalf("reattach to an unknown job: %v", err)
	}
	// n2 never comes back: dead after the grace; n1 is alive and heartbeats.
	waitUntil(t, "n2 to be declared dead", func() bool {
		var hb protocol.HeartbeatReply
		_ = c2.Call(ctx, protocol.HeadHeartbeat, &protocol.HeartbeatRequest{NodeID: "n1", Available: node.Total}, &hb)
		for _, n := range status(t, c2).Nodes {
			if n.Info.NodeID == "n2" {
				return !n.Alive
			}
		}
		return false
	})
	// A node declared dead may not come back under its ID.
	if err := c2.Call(ctx, protocol.HeadRegisterNode, gone, nil); rpc.CodeOf(err) != protocol.CodeNodeDead {
		t.Fatalf("a dead node registering again: %v", err)
	}
	st = status(t, c2)
	if !st.Jobs[0].Alive {
		t.Fatal("the reattached job ended")
	}
	// The third head sees n2 dead, the job still alive: what the second
	// recorded.
	s2.Stop()
	_, c3 := startOn(t, dataDir, binDir, time.Hour)
	for _, n := range status(t, c3).Nodes {
		if n.Info.NodeID == "n2" && n.Alive {
			t.Fatal("n2 alive again in the third head")
		}
	}
}

func TestKVStore(t *testing.T) {
	_, c := start(t)
	ctx := context.Background()
	put := func(key, val string, overwrite bool) bool {
		var r protocol.KVPutReply
		if err := c.Call(ctx, protocol.HeadKVPut, &protocol.KVPutRequest{Namespace: "a", Key: key, Value: []byte(val), Overwrite: overwrite}, &r); err != nil {
			t.Fatal(err)
		}
		return r.Added
	}
	get := func(ns, key string) (string, bool) {
		var r protocol.KVGetReply
		if err := c.Call(ctx, protocol.HeadKVGet, &protocol.KVKeyRequest{Namespace: ns, Key: key}, &r); err != nil {
			t.Fatal(err)
		}
		return string(r.Value), r.Found
	}
	if !put("x/1", "one", false) || put("x/1", "uno", false) {
		t.Fatal("put: Added is wrong")
	}
	if v, _ := get("a", "x/1"); v != "one" {
		t.Fatalf("a put without overwrite replaced the value: %q", v)
	}
	put("x/1", "uno", true)
	put("x/2", "two", false)
	put("y", "why", false)
	if v, ok := get("a", "x/1"); !ok || v != "uno" {
		t.Fatalf("get after overwrite: %q %v", v, ok)
	}
	if _, ok := get("b", "x/1"); ok {
		t.Fatal("namespaces leak")
	}
	var keys protocol.KVKeysReply
	if err := c.Call(ctx, protocol.HeadKVKeys, &protocol.KVKeysRequest{Namespace: "a", Prefix: "x/"}, &keys); err != nil || !slices.Equal(keys.Keys, []string{"x/1", "x/2"}) {
		t.Fatalf("keys: %v %v", keys.Keys, err)
	}
	var del protocol.KVDeleteReply
	if err := c.Call(ctx, protocol.HeadKVDelete, &protocol.KVKeyRequest{Namespace: "a", Key: "x/1"}, &del); err != nil || !del.Deleted {
		t.Fatalf("delete: %+v %v", del, err)
	}
	if _, ok := get("a", "x/1"); ok {
		t.Fatal("deleted key still there")
	}
	err := c.Call(ctx, protocol.HeadKVPut, &protocol.KVPutRequest{Namespace: "a", Key: "", Value: []byte("v")}, nil)
	if rpc.CodeOf(err) != rpc.CodeBadRequest {
		t.Fatalf("empty key: %v", err)
	}
	err = c.Call(ctx, protocol.HeadKVPut, &protocol.KVPutRequest{Namespace: "a", Key: "big", Value: make([]byte, protocol.MaxKVValue+1)}, nil)
	if rpc.CodeOf(err) != rpc.CodeBadRequest {
		t.Fatalf("too large a value: %v", err)
	}
}

// A second head on the same data directory is refused.
func TestDataDirInUse(t *testing.T) {
	dataDir, binDir := t.TempDir(), t.TempDir()
	startOn(t, dataDir, binDir, time.Second)
	_, err := Start(Config{Token: "tok", BinariesDir: binDir, DataDir: dataDir, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil || !errors.Is(err, ErrDataDirInUse) {
		t.Fatalf("a second head on the directory: %v", err)
	}
}

// A job's records in the job-scoped namespace go when the job ends;
// other jobs' and other namespaces' stay.
func TestJobScopedKVEndsWithItsJob(t *testing.T) {
	s, c := start(t)
	ctx := context.Background()
	put := func(ns, key string) {
		if err := c.Call(ctx, protocol.HeadKVPut, &protocol.KVPutRequest{Namespace: ns, Key: key, Value: []byte("v")}, nil); err != nil {
			t.Fatal(err)
		}
	}
	found := func(ns, key string) bool {
		var r protocol.KVGetReply
		if err := c.Call(ctx, protocol.HeadKVGet, &protocol.KVKeyRequest{Namespace: ns, Key: key}, &r); err != nil {
			t.Fatal(err)
		}
		return r.Found
	}
	var reg protocol.RegisterJobReply
	if err := c.Call(ctx, protocol.HeadRegisterJob, &protocol.RegisterJobRequest{DriverAddr: "127.0.0.1:1", DriverPid: 1}, &reg); err != nil {
		t.Fatal(err)
	}
	job := reg.JobID
	put(protocol.JobScopedNamespace, job+"/fn/a")
	put(protocol.JobScopedNamespace, job+"x/fn/a") // another job's ID that extends this one's
	put("other", job+"/fn/a")
	s.endJob(job)
	if found(protocol.JobScopedNamespace, job+"/fn/a") {
		t.Error("the ended job's record is still there")
	}
	if !found(protocol.JobScopedNamespace, job+"x/fn/a") || !found("other", job+"/fn/a") {
		t.Error("records of another job or namespace went with it")
	}
}

package gcs

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	bolt "go.etcd.io/bbolt"

	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/sched"
)

// actorCost is what n actor records cost the head.
type actorCost struct {
	perRegistration time.Duration // createActor, persisted write included
	heapPerActor    float64       // live heap bytes after a GC
	stackPerActor   float64       // goroutine stacks: each pending actor's scheduler waits in one
	filePerActor    float64       // the store's file (bbolt grows it ahead of use)
	treePerActor    float64       // the bytes of the actors bucket's pages in use
}

// recordActors records n actors in a head that persists to dir, as the
// driver's CreateActor messages would (the RPC's handler itself), with no
// node to place them: each waits as infeasible, its scheduler goroutine
// parked. Then each is marked alive on a worker with its lease, as
// placeActor records it, without the worker connection, which only a real
// process gives (see `rayo microbenchmark --actors`).
func recordActors(tb testing.TB, dir string, n int) actorCost {
	tb.Helper()
	s, err := Start(Config{Token: "tok", BinariesDir: filepath.Join(dir, "bin"), DataDir: filepath.Join(dir, "data"),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		tb.Fatal(err)
	}
	defer s.Stop()
	// Each spec is decoded from the wire, as the RPC server does, so that
	// each record holds strings of its own.
	wire, err := msgpack.Marshal(&protocol.ActorSpec{Class: "microbench.Idle",
		Namespace: "anon-00000001", Strategy: sched.Strategy{Kind: sched.StrategySpread}, MaxConcurrency: 1,
		Job: protocol.JobSpec{JobID: "00000001", DriverAddr: "/tmp/rayo/session/sockets/driver-1a2b3c4d.sock",
			HeadAddr: "127.0.0.1:6380", Namespace: "anon-00000001",
			Binary: protocol.Binary{Hash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
				Size: 31 << 20, GOOS: "linux", GOARCH: "amd64", Path: "/usr/local/bin/rayo"}},
		OwnerAddr: "/tmp/rayo/session/sockets/driver-1a2b3c4d.sock"})
	if err != nil {
		tb.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	for i := range n {
		var spec protocol.ActorSpec
		if err := msgpack.Unmarshal(wire, &spec); err != nil {
			tb.Fatal(err)
		}
		spec.ActorID = fmt.Sprintf("a0c1d2e3f4%06x", i)
		if _, err := s.createActor(context.Background(), &spec); err != nil {
			tb.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	s.mu.Lock()
	for i, a := range s.actors {
		reply := protocol.LeaseReply{LeaseID: "l" + i[len(i)-6:], WorkerID: "w" + i[len(i)-6:],
			WorkerAddr: "/tmp/rayo/session/sockets/worker-" + i + ".sock", WorkerPid: 4242, NodeID: "46135a7a3783e525"}
		a.lease = &actorLease{nodeAddr: "127.0.0.1:40000", reply: reply} // no worker connection
		a.info.State = protocol.ActorAlive
		a.info.Addr, a.info.WorkerID, a.info.NodeID, a.info.Pid = reply.WorkerAddr, reply.WorkerID, reply.NodeID, reply.WorkerPid
		s.touchLocked(a)
	}
	s.mu.Unlock()
	runtime.GC()
	runtime.ReadMemStats(&after)
	c := actorCost{perRegistration: elapsed / time.Duration(n),
		heapPerActor:  (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / float64(n),
		stackPerActor: (float64(after.StackInuse) - float64(before.StackInuse)) / float64(n)}
	if st, err := os.Stat(filepath.Join(dir, "data", stateFile)); err == nil {
		c.filePerActor = float64(st.Size()) / float64(n)
	}
	err = s.db.db.View(func(tx *bolt.Tx) error {
		bs := tx.Bucket(bucketActors).Stats()
		if bs.KeyN != n {
			return fmt.Errorf("%d actor records in the store, want %d", bs.KeyN, n)
		}
		c.treePerActor = float64(bs.LeafInuse+bs.BranchInuse) / float64(n)
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	s.mu.Lock()
	got := len(s.actors)
	s.mu.Unlock()
	if got != n {
		tb.Fatalf("%d actors in the directory, want %d", got, n)
	}
	return c
}

// The head's own cost per actor, with 10,000 actor records:
// go test -run '^$' -bench ActorRecords -benchtime 1x ./internal/gcs
func BenchmarkActorRecords(b *testing.B) {
	const n = 10_000
	var c actorCost
	for range b.N {
		c = recordActors(b, b.TempDir(), n)
	}
	b.ReportMetric(float64(c.perRegistration.Nanoseconds()), "ns/registration")
	b.ReportMetric(c.heapPerActor, "heap-B/actor")
	b.ReportMetric(c.stackPerActor, "stack-B/actor")
	b.ReportMetric(c.treePerActor, "store-B/actor")
	b.ReportMetric(c.filePerActor, "file-B/actor")
	b.ReportMetric(0, "ns/op") // one op is 10,000 registrations: see ns/registration
}

// The benchmark's path, small, so that it keeps working.
func TestRecordActors(t *testing.T) {
	c := recordActors(t, t.TempDir(), 50)
	if c.heapPerActor <= 0 || c.treePerActor <= 0 || c.filePerActor <= 0 {
		t.Fatalf("costs %+v, want each > 0", c)
	}
}

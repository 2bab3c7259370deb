package integration_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/internal/cli"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
	"github.com/rayo-dev/rayo/internal/testcluster"
)

// Object store tests: large values (> 100 KiB) in the nodes' shared-memory
// stores, zero-copy reads, transfers between nodes, spilling, reference
// counting across processes, loss with a node, and `rayo memory`.

// ---- tasks and actors (package level: the workers register them too) ----

// objHolder carries a reference nested in a value, so that it arrives as
// a reference (a top-level argument would be resolved to its value).
type objHolder struct {
	Ref rayo.ObjectRef[[]byte]
}

// objSum is what a task or an actor reports of a []byte object it got.
type objSum struct {
	Sum      [32]byte
	Len      int
	GetNanos int64 // how long the Get took
	NodeID   string
	Pid      int
}

// objBox is one level of a nested structure; Pad makes each level larger
// than the inline limit, so that every level lives in a store.
type objBox struct {
	Inner rayo.ObjectRef[objBox]
	Leaf  rayo.ObjectRef[[]byte]
	Depth int
	Pad   []byte
}

// objNested is what objBuildNested returns: the outermost box and the
// worker that owns every level.
type objNested struct {
	Outer rayo.ObjectRef[objBox]
	Pid   int
}

// objSharer keeps a zero-copy []byte from its node's store, and the
// reference that keeps it pinned.
type objSharer struct {
	ref rayo.ObjectRef[[]byte]
	b   []byte
}

// objKeeper keeps a reference it was given, without getting it.
type objKeeper struct {
	ref rayo.ObjectRef[[]byte]
}

// objCallTimeout bounds every Get made inside a task or a method (a
// 1 GiB transfer included).
const objCallTimeout = 3 * time.Minute

func sumOf(ctx context.Context, ref rayo.ObjectRef[[]byte]) ([]byte, objSum, error) {
	ctx, cancel := context.WithTimeout(ctx, objCallTimeout)
	defer cancel()
	start := time.Now()
	b, err := ref.Get(ctx)
	if err != nil {
		return nil, objSum{}, err
	}
	d := time.Since(start)
	return b, objSum{Sum: sha256.Sum256(b), Len: len(b), GetNanos: int64(d), NodeID: rayo.NodeID(), Pid: os.Getpid()}, nil
}

var (
	// objMakeBytes returns n bytes of the pattern of seed.
	objMakeBytes = rayo.Register[[]byte]("itest.obj.makeBytes", func(n int, seed uint64) []byte {
		b := make([]byte, n)
		fillPattern(b, seed)
		return b
	})

	// objChecksum gets the nested reference (timing the Get) and returns
	// the checksum of its bytes, computed where it runs.
	objChecksum = rayo.Register[objSum]("itest.obj.checksum", func(ctx context.Context, h objHolder) (objSum, error) {
		_, s, err := sumOf(ctx, h.Ref)
		return s, err
	})

	// objBuildNested puts a leaf of leafSize bytes and three boxes around
	// it (each with pad bytes of padding), all owned by this worker, and
	// returns the reference to the outermost box.
	objBuildNested = rayo.Register[objNested]("itest.obj.buildNested", func(ctx context.Context, leafSize, pad int) (objNested, error) {
		leaf := make([]byte, leafSize)
		fillPattern(leaf, 77)
		lr, err := rayo.Put(ctx, leaf)
		if err != nil {
			return objNested{}, err
		}
		box, err := rayo.Put(ctx, objBox{Leaf: lr, Depth: 1, Pad: make([]byte, pad)})
		if err != nil {
			return objNested{}, err
		}
		for depth := 2; depth <= 3; depth++ {
			if box, err = rayo.Put(ctx, objBox{Inner: box, Depth: depth, Pad: make([]byte, pad)}); err != nil {
				return objNested{}, err
			}
		}
		return objNested{Outer: box, Pid: os.Getpid()}, nil
	})

	// objGC runs the Go collector in its worker, so that the worker's
	// dropped ObjectRefs are counted out.
	objGC = rayo.Register[int]("itest.obj.gc", func() int {
		runtime.GC()
		return os.Getpid()
	})

	sharerActor = rayo.RegisterActor[objSharer]("itest.obj.Sharer", func() *objSharer { return &objSharer{} })
	// sharerHold gets the nested reference and keeps both the reference
	// (so that its pin on the object stays) and the zero-copy slice.
	sharerHold = rayo.RegisterMethod[objSum](sharerActor, "Hold", func(s *objSharer, ctx context.Context, h objHolder) (objSum, error) {
		b, sum, err := sumOf(ctx, h.Ref)
		if err != nil {
			return objSum{}, err
		}
		s.ref, s.b = h.Ref, b
		return sum, nil
	})
	sharerPoke = rayo.RegisterMethod[byte](sharerActor, "Poke", func(s *objSharer, i int, v byte) (byte, error) {
		if i < 0 || i >= len(s.b) {
			return 0, fmt.Errorf("itest: poke at %d of %d bytes", i, len(s.b))
		}
		old := s.b[i]
		s.b[i] = v
		return old, nil
	})
	sharerPeek = rayo.RegisterMethod[byte](sharerActor, "Peek", func(s *objSharer, i int) (byte, error) {
		if i < 0 || i >= len(s.b) {
			return 0, fmt.Errorf("itest: peek at %d of %d bytes", i, len(s.b))
		}
		return s.b[i], nil
	})

	keeperActor = rayo.RegisterActor[objKeeper]("itest.obj.Keeper", func() *objKeeper { return &objKeeper{} })
	// keeperKeep keeps the nested reference without getting it.
	keeperKeep = rayo.RegisterMethod[int](keeperActor, "Keep", func(k *objKeeper, h objHolder) int {
		k.ref = h.Ref
		return os.Getpid()
	})
	// keeperSum gets the kept reference and returns its checksum.
	keeperSum = rayo.RegisterMethod[objSum](keeperActor, "Sum", func(k *objKeeper, ctx context.Context) (objSum, error) {
		_, s, err := sumOf(ctx, k.ref)
		return s, err
	})
)

// fillPattern fills b with a pattern of seed that also depends on the
// offset of every 4 KiB block (so that misplaced chunks show). It copies
// whole blocks, which stays fast in -race builds.
func fillPattern(b []byte, seed uint64) {
	const block = 4 << 10
	var base [block]byte
	for i := 0; i < block; i += 8 {
		binary.LittleEndian.PutUint64(base[i:], (uint64(i)^seed<<40)*0x9E3779B97F4A7C15+seed)
	}
	for off := 0; off < len(b); off += block {
		n := copy(b[off:], base[:])
		if n >= 8 {
			binary.LittleEndian.PutUint64(b[off:], uint64(off)^seed)
		}
	}
}

func patternOf(n int, seed uint64) []byte {
	b := make([]byte, n)
	fillPattern(b, seed)
	return b
}

// ---- helpers ----

// storeArgs are `rayo start` flags for a store of capacity bytes and,
// unless empty, a spill directory.
func storeArgs(capacity int64, spillDir string) []string {
	args := []string{"--object-store-memory", strconv.FormatInt(capacity, 10)}
	if spillDir != "" {
		args = append(args, "--object-spilling-dir", spillDir)
	}
	return args
}

// startObjCluster starts the usual cluster (a head with 2 CPUs, a node
// with 1 CPU and {"special": 1}) with extra `rayo start` flags for each.
func startObjCluster(t *testing.T, headArgs, nodeArgs []string) *testcluster.Cluster {
	t.Helper()
	return testcluster.Start(t, testcluster.NodeSpec{CPUs: 2, ExtraArgs: headArgs},
		testcluster.NodeSpec{CPUs: 1, Resources: special, ExtraArgs: nodeArgs})
}

// specialProc is the daemon of the cluster's special node.
func specialProc(t *testing.T, c *testcluster.Cluster) *testcluster.Proc {
	t.Helper()
	id := c.NodeIDWithResource(t, "special")
	for _, p := range c.NodeProcs() {
		if p.NodeID == id {
			return p
		}
	}
	t.Fatalf("no daemon runs the special node %s", id)
	return nil
}

// listStore asks a node daemon for its store's objects.
func listStore(c *testcluster.Cluster, p *testcluster.Proc) (*protocol.ListObjectsReply, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := rpc.Dial(ctx, p.Addr, c.Token())
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var r protocol.ListObjectsReply
	if err := cl.Call(ctx, protocol.NodeListObjects, &protocol.Empty{}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

func mustListStore(t *testing.T, c *testcluster.Cluster, p *testcluster.Proc) *protocol.ListObjectsReply {
	t.Helper()
	r, err := listStore(c, p)
	if err != nil {
		t.Fatalf("listing the store of %s: %v", p.Name, err)
	}
	return r
}

// findObject returns the store's entry for id.
func findObject(r *protocol.ListObjectsReply, id string) (protocol.StoreObjectInfo, bool) {
	for _, o := range r.Objects {
		if o.ObjectID == id {
			return o, true
		}
	}
	return protocol.StoreObjectInfo{}, false
}

// storesHoldNone reports whether none of the stores of procs holds an
// object of ids; it logs what it finds otherwise.
func storesHoldNone(t *testing.T, c *testcluster.Cluster, ids map[string]bool, procs ...*testcluster.Proc) bool {
	for _, p := range procs {
		r, err := listStore(c, p)
		if err != nil {
			t.Logf("listing the store of %s: %v", p.Name, err)
			return false
		}
		for _, o := range r.Objects {
			if ids[o.ObjectID] {
				return false
			}
		}
	}
	return true
}

// rayoMemory runs `rayo memory --format json` against the cluster.
func rayoMemory(t *testing.T, c *testcluster.Cluster) cli.MemoryReport {
	t.Helper()
	out, err := c.Rayo(t, "memory", "--address", c.Address(), "--token", c.Token(), "--format", "json")
	if err != nil {
		t.Fatalf("rayo memory: %v\n%s", err, out)
	}
	var rep cli.MemoryReport
	i := strings.Index(out, "{")
	if i < 0 {
		t.Fatalf("rayo memory --format json printed no JSON:\n%s", out)
	}
	if err := json.NewDecoder(strings.NewReader(out[i:])).Decode(&rep); err != nil {
		t.Fatalf("rayo memory --format json: %v\n%s", err, out)
	}
	return rep
}

func memNode(t *testing.T, rep cli.MemoryReport, nodeID string) cli.NodeMemory {
	t.Helper()
	for _, n := range rep.Nodes {
		if n.NodeID == nodeID {
			if n.Error != "" {
				t.Fatalf("rayo memory: node %s: %s", nodeID, n.Error)
			}
			return n
		}
	}
	t.Fatalf("rayo memory lists no node %s", nodeID)
	return cli.NodeMemory{}
}

// memSelf is this process's (the driver's) entry in a rayo memory report.
func memSelf(t *testing.T, rep cli.MemoryReport) protocol.ListRefsReply {
	t.Helper()
	for _, p := range rep.Processes {
		if p.Pid == os.Getpid() {
			return p
		}
	}
	t.Fatalf("rayo memory lists no process of pid %d (the driver); processes: %+v", os.Getpid(), rep.Processes)
	return protocol.ListRefsReply{}
}

func refInfo(p protocol.ListRefsReply, id string) (protocol.RefInfo, bool) {
	for _, r := range p.Refs {
		if r.ObjectID == id {
			return r, true
		}
	}
	return protocol.RefInfo{}, false
}

// waitFreed waits (collecting garbage here between polls) until none of
// the stores of procs holds an object of ids.
func waitFreed(t *testing.T, c *testcluster.Cluster, timeout time.Duration, ids map[string]bool, what string, procs ...*testcluster.Proc) {
	t.Helper()
	testcluster.WaitFor(t, timeout, func() bool {
		runtime.GC()
		return storesHoldNone(t, c, ids, procs...)
	}, what)
}

// dumpMemoryOnFailure prints `rayo memory` if the test fails (before the
// driver disconnects and the cluster stops).
func dumpMemoryOnFailure(t *testing.T, c *testcluster.Cluster) {
	t.Cleanup(func() {
		if t.Failed() {
			out, err := c.Rayo(t, "memory", "--address", c.Address(), "--token", c.Token())
			t.Logf("rayo memory (%v):\n%s", err, out)
		}
	})
}

func gbps(n int64, d time.Duration) float64 { return float64(n) / d.Seconds() / 1e9 }

// ---- tests ----

// Two worker processes on one node read a stored []byte from the same
// shared memory.
func TestObjZeroCopySharedAcrossProcesses(t *testing.T) {
	c := startCluster(t)
	connect(t, c)
	dumpMemoryOnFailure(t, c)
	ctx := withTimeout(t, 2*time.Minute)
	sp := c.NodeIDWithResource(t, "special")

	const size = 4 << 20
	ref := objMakeBytes.Options(rayo.NodeAffinity(sp, false)).Remote(size, uint64(1))
	pin := rayo.NodeAffinity(sp, false)
	a, err := sharerActor.Options(pin).New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := sharerActor.Options(pin).New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(patternOf(size, 1))
	ha, err := sharerHold.Remote(a, objHolder{ref}).Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hb, err := sharerHold.Remote(b, objHolder{ref}).Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for name, h := range map[string]objSum{"a": ha, "b": hb} {
		if h.NodeID != sp || h.Len != size || h.Sum != want {
			t.Fatalf("actor %s: node %s (want %s), %d bytes (want %d), checksum ok %v", name, h.NodeID, sp, h.Len, size, h.Sum == want)
		}
	}
	if ha.Pid == hb.Pid {
		t.Fatalf("both actors run in process %d; the test needs two processes", ha.Pid)
	}

	// Objects are immutable by contract. The test breaks the contract on
	// purpose: addresses cannot be compared across processes (each maps
	// the store at its own address), so the only way to show that both
	// processes read the same memory, with no copy in between, is to
	// change a byte through one process's slice and see the change
	// through the other's.
	const idx = size/2 + 12345
	orig, err := sharerPeek.Remote(b, idx).Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v := ^orig
	old, err := sharerPoke.Remote(a, idx, v).Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if old != orig {
		t.Fatalf("the actors saw different bytes at %d before the write: %#x and %#x", idx, old, orig)
	}
	got, err := sharerPeek.Remote(b, idx).Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got != v {
		t.Fatalf("actor b (pid %d) reads %#x at %d after actor a (pid %d) wrote %#x there: the Gets did not share memory", hb.Pid, got, idx, ha.Pid, v)
	}
	runtime.KeepAlive(ref)
}

// A 1 GiB object made on the head's node is pulled by the special node
// and read by the driver; all see the same bytes.
func TestObjTransferBetweenNodes(t *testing.T) {
	const size = 1 << 30
	var st syscall.Statfs_t
	if err := syscall.Statfs("/dev/shm", &st); err != nil {
		t.Skipf("cannot statfs /dev/shm: %v", err)
	}
	if free := st.Bavail * uint64(st.Bsize); free < 3<<30 {
		t.Skipf("/dev/shm has %d MiB free; the test needs 3 GiB (two stores holding a 1 GiB object)", free>>20)
	}
	args := storeArgs(2<<30, "")
	c := startObjCluster(t, args, args)
	connect(t, c)
	dumpMemoryOnFailure(t, c)
	ctx := withTimeout(t, 5*time.Minute)
	head, sp := c.HeadNodeID(), c.NodeIDWithResource(t, "special")

	start := time.Now()
	made := objMakeBytes.Options(rayo.NodeAffinity(head, false)).Remote(size, uint64(42))
	if ready, _, err := rayo.Wait(ctx, []rayo.ObjectRef[[]byte]{made}, 1, 3*time.Minute); err != nil || len(ready) != 1 {
		t.Fatalf("making 1 GiB: ready %d, %v", len(ready), err)
	}
	t.Logf("made and stored 1 GiB on the head's node in %v", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	atHead, err := objChecksum.Options(rayo.NodeAffinity(head, false)).Remote(objHolder{made}).Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("checksum on the head's node: %v in all, its Get (local, zero copy) %v", time.Since(start).Round(time.Millisecond), time.Duration(atHead.GetNanos).Round(time.Microsecond))
	start = time.Now()
	atSpecial, err := objChecksum.Options(rayo.NodeAffinity(sp, false)).Remote(objHolder{made}).Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if atHead.NodeID != head || atSpecial.NodeID != sp {
		t.Fatalf("checksums computed on %s and %s; want %s and %s", atHead.NodeID, atSpecial.NodeID, head, sp)
	}
	if atHead.Len != size || atSpecial.Len != size {
		t.Fatalf("lengths %d and %d; want %d", atHead.Len, atSpecial.Len, size)
	}
	if atHead.Sum != atSpecial.Sum {
		t.Fatalf("the special node's copy differs: %x, made as %x", atSpecial.Sum, atHead.Sum)
	}
	pull := time.Duration(atSpecial.GetNanos)
	t.Logf("checksum on the special node: %v in all; its Get, the cross-node pull of 1 GiB: %v, %.2f GB/s (%.2f GiB/s)",
		time.Since(start).Round(time.Millisecond), pull.Round(time.Millisecond), gbps(size, pull), float64(size)/pull.Seconds()/(1<<30))

	// The special node holds a secondary copy now.
	sr := mustListStore(t, c, specialProc(t, c))
	if o, ok := findObject(sr, made.ID()); !ok || o.Primary || o.Size < size {
		t.Errorf("the special node's store lists the object as %+v (found %v); want a secondary copy of ≥ %d bytes", o, ok, size)
	}

	start = time.Now()
	b, err := made.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	getTime := time.Since(start)
	if len(b) != size || sha256.Sum256(b) != atHead.Sum {
		t.Fatalf("the driver's Get: %d bytes, checksum differs %v", len(b), sha256.Sum256(b) != atHead.Sum)
	}
	t.Logf("the driver's Get (head's node, zero copy): %v", getTime.Round(time.Microsecond))
	if !bytes.Equal(b[:4096], patternOf(4096, 42)) {
		t.Fatal("the first bytes are not the pattern")
	}
}

// 10,000 objects of 1 MiB put and dropped through a 256 MiB store: usage
// stays within the store, and every object is freed in the end.
func TestObjLeakLoop(t *testing.T) {
	const (
		capacity = 256 << 20
		n        = 10000
	)
	c := startObjCluster(t, storeArgs(capacity, ""), nil)
	connect(t, c)
	dumpMemoryOnFailure(t, c)
	ctx := withTimeout(t, 5*time.Minute)
	hp := c.Head()

	var maxUsed, maxSpilled int64
	maxObjects := 0
	check := func(r *protocol.ListObjectsReply) {
		t.Helper()
		if r.Capacity < capacity || r.Used > r.Capacity {
			t.Fatalf("store: %d bytes used of %d (configured %d)", r.Used, r.Capacity, capacity)
		}
		maxUsed, maxSpilled, maxObjects = max(maxUsed, r.Used), max(maxSpilled, r.SpilledBytes), max(maxObjects, len(r.Objects))
	}

	buf := make([]byte, 1<<20)
	ids := make(map[string]bool, n)
	start := time.Now()
	for i := range n {
		binary.LittleEndian.PutUint64(buf, uint64(i))
		ref, err := rayo.Put(ctx, buf)
		if err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
		ids[ref.ID()] = true
		if i%500 == 499 {
			check(mustListStore(t, c, hp))
		}
	}
	putTime := time.Since(start)
	start = time.Now()
	left := -1
	testcluster.WaitFor(t, 2*time.Minute, func() bool {
		runtime.GC()
		r, err := listStore(c, hp)
		if err != nil {
			t.Logf("listing the store: %v", err)
			return false
		}
		check(r)
		left = 0
		for _, o := range r.Objects {
			if ids[o.ObjectID] {
				left++
			}
		}
		return left == 0
	}, "the loop's objects to leave the store")
	t.Logf("%d puts of 1 MiB in %v (%.0f puts/s, %.2f GB/s); drained in %v; peak: %d MiB used of %d MiB, %d objects, %d MiB spilled",
		n, putTime.Round(time.Millisecond), n/putTime.Seconds(), gbps(n<<20, putTime), time.Since(start).Round(time.Millisecond),
		maxUsed>>20, capacity>>20, maxObjects, maxSpilled>>20)
}

// 192 MiB of distinct objects through a 64 MiB store, all kept: some
// spill, and every one reads back intact.
func TestObjSpilling(t *testing.T) {
	const (
		capacity = 64 << 20
		size     = 1 << 20
		n        = 3 * capacity / size
	)
	c := startObjCluster(t, storeArgs(capacity, ""), nil)
	connect(t, c)
	dumpMemoryOnFailure(t, c)
	ctx := withTimeout(t, 3*time.Minute)

	refs := make([]rayo.ObjectRef[[]byte], n)
	sums := make([][32]byte, n)
	b := make([]byte, size)
	for i := range refs {
		fillPattern(b, uint64(1000+i))
		sums[i] = sha256.Sum256(b)
		var err error
		if refs[i], err = rayo.Put(ctx, b); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	hm := memNode(t, rayoMemory(t, c), c.HeadNodeID())
	t.Logf("after the puts: %d MiB used of %d MiB, %d objects spilled (%d MiB), %d MiB in fallback files",
		hm.Used>>20, hm.Capacity>>20, hm.SpilledObjects, hm.SpilledBytes>>20, hm.FallbackBytes>>20)
	if hm.SpilledObjects == 0 && hm.SpilledBytes == 0 {
		t.Fatalf("nothing spilled after putting %d MiB into a %d MiB store", n*size>>20, capacity>>20)
	}
	if hm.Used > hm.Capacity {
		t.Fatalf("%d bytes used of %d", hm.Used, hm.Capacity)
	}
	start := time.Now()
	for i, r := range refs {
		gctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		got, err := r.Get(gctx)
		cancel()
		if err != nil {
			t.Fatalf("get %d: %v", i, err)
		}
		if len(got) != size || sha256.Sum256(got) != sums[i] {
			t.Fatalf("object %d: %d bytes, content differs", i, len(got))
		}
	}
	r := mustListStore(t, c, c.Head())
	t.Logf("read back %d objects in %v; now %d MiB used, %d spilled, %d MiB in fallback files",
		n, time.Since(start).Round(time.Millisecond), r.Used>>20, r.SpilledObjects, r.FallbackBytes>>20)
	runtime.KeepAlive(refs)
}

// A worker builds leaf <- box1 <- box2 <- box3 in the special node's
// store; the driver reads through every level, then drops it all; both
// stores end up free of them.
func TestObjNestedRefsFreedAcrossProcesses(t *testing.T) {
	c := startCluster(t)
	connect(t, c)
	dumpMemoryOnFailure(t, c)
	ctx := withTimeout(t, 2*time.Minute)
	sp := specialProc(t, c)
	const leafSize, pad = 1 << 20, 200 << 10

	ids := map[string]bool{}
	builder := 0
	func() {
		built, err := objBuildNested.Options(rayo.Resources(special)).Remote(leafSize, pad).Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		builder = built.Pid
		ids[built.Outer.ID()] = true
		ref := built.Outer
		// Every level's ObjectRef stays reachable until the stores are
		// checked: a dropped one may be freed at once.
		var held []any
		defer runtime.KeepAlive(&held)
		for depth := 3; depth >= 1; depth-- {
			box, err := ref.Get(ctx)
			if err != nil {
				t.Fatalf("depth %d: %v", depth, err)
			}
			if box.Depth != depth || len(box.Pad) != pad {
				t.Fatalf("depth %d: got a box of depth %d with %d bytes of padding", depth, box.Depth, len(box.Pad))
			}
			held = append(held, ref, box)
			if depth > 1 {
				ref = box.Inner
				ids[ref.ID()] = true
				continue
			}
			leaf, err := box.Leaf.Get(ctx)
			if err != nil {
				t.Fatalf("leaf: %v", err)
			}
			ids[box.Leaf.ID()] = true
			if !bytes.Equal(leaf, patternOf(leafSize, 77)) {
				t.Fatal("the leaf's bytes differ")
			}
		}
		// Every level is in the special node's store (primary copies) and
		// in the head's (the driver's reads pulled them).
		for _, p := range []*testcluster.Proc{sp, c.Head()} {
			r := mustListStore(t, c, p)
			for id := range ids {
				if _, ok := findObject(r, id); !ok {
					t.Fatalf("the store of %s does not hold %s", p.Name, id)
				}
			}
		}
	}()
	if len(ids) != 4 {
		t.Fatalf("%d distinct objects; want 4", len(ids))
	}
	// The driver dropped everything. The builder's worker owns every
	// level, and its own ObjectRefs from the task are counted out when its
	// Go collector runs (a worker collects once idle after a call that
	// made refs: TestObjIdleOwnerFreesDroppedObjects); every poll also
	// runs the collector on the special node, in an idle worker of this
	// job (normally the builder's, the most recently used), as this test
	// checks the nested counting, not that.
	start := time.Now()
	gcPids := map[int]bool{}
	testcluster.WaitFor(t, time.Minute, func() bool {
		runtime.GC()
		pid, err := objGC.Options(rayo.Resources(special)).Remote().Get(ctx)
		if err != nil {
			t.Fatalf("the collector task: %v", err)
		}
		gcPids[pid] = true
		return storesHoldNone(t, c, ids, sp, c.Head())
	}, "the nested objects to leave both stores")
	if !gcPids[builder] {
		t.Logf("note: the collector never ran in the builder's worker %d (it ran in %v)", builder, gcPids)
	}
	t.Logf("both stores freed of the 4 nested objects %v after the driver dropped them", time.Since(start).Round(time.Millisecond))
}

// An actor on the other node borrows an object the driver put; the
// driver drops its reference; the object stays until the borrower goes.
func TestObjBorrowerKeepsObjectAlive(t *testing.T) {
	c := startCluster(t)
	connect(t, c)
	dumpMemoryOnFailure(t, c)
	ctx := withTimeout(t, 2*time.Minute)
	sp := specialProc(t, c)
	k, err := keeperActor.Options(rayo.NodeAffinity(sp.NodeID, false)).New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	data := patternOf(3<<20, 5)
	want := sha256.Sum256(data)
	var xid string
	func() {
		x, err := rayo.Put(ctx, data)
		if err != nil {
			t.Fatal(err)
		}
		xid = x.ID()
		if _, err := keeperKeep.Remote(k, objHolder{x}).Get(ctx); err != nil {
			t.Fatal(err)
		}
	}()
	// The driver, the owner, holds no reference any more; the actor does.
	testcluster.WaitFor(t, time.Minute, func() bool {
		runtime.GC()
		r, ok := refInfo(memSelf(t, rayoMemory(t, c)), xid)
		return ok && r.IsOwner && r.Local == 0 && r.Submitted == 0 && r.Borrowers >= 1
	}, "the driver's reference to be dropped, with the actor still borrowing")
	for range 3 {
		runtime.GC()
	}
	if _, ok := findObject(mustListStore(t, c, c.Head()), xid); !ok {
		t.Fatal("the object left the driver's node while borrowed")
	}
	got, err := keeperSum.Remote(k).Get(ctx)
	if err != nil {
		t.Fatalf("the borrower could not get the object: %v", err)
	}
	if got.NodeID != sp.NodeID || got.Sum != want {
		t.Fatalf("the borrower on %s (want %s) read a checksum that matches: %v", got.NodeID, sp.NodeID, got.Sum == want)
	}
	// When the borrower goes, so does the object, from both stores.
	if err := rayo.Kill(ctx, k, true); err != nil {
		t.Fatal(err)
	}
	waitFreed(t, c, time.Minute, map[string]bool{xid: true}, "the object to be freed once its borrower died", c.Head(), sp)
}

// A task result whose only copy is on a node that dies is lost: Get says
// so promptly (lineage reconstruction is not built).
func TestObjLostWithNode(t *testing.T) {
	c := startCluster(t)
	connect(t, c)
	dumpMemoryOnFailure(t, c)
	ctx := withTimeout(t, 2*time.Minute)
	sp := specialProc(t, c)
	// MaxRetries(0): no lineage, so the lost result cannot be rebuilt.
	ref := objMakeBytes.Options(rayo.NodeAffinity(sp.NodeID, false), rayo.MaxRetries(0)).Remote(4<<20, uint64(3))
	ready, _, err := rayo.Wait(ctx, []rayo.ObjectRef[[]byte]{ref}, 1, time.Minute)
	if err != nil || len(ready) != 1 {
		t.Fatalf("the task did not finish: ready %d, %v", len(ready), err)
	}
	if o, ok := findObject(mustListStore(t, c, sp), ref.ID()); !ok || !o.Primary {
		t.Fatalf("the special node's store lists the result as %+v (found %v); want its primary copy", o, ok)
	}
	if _, ok := findObject(mustListStore(t, c, c.Head()), ref.ID()); ok {
		t.Fatal("the head's store holds a copy already")
	}
	c.KillNode(t, sp)
	// A daemon killed with SIGKILL leaves its shared-memory segment
	// behind (nothing removes it later): remove it, so that repeated runs
	// do not fill /dev/shm. The daemon is dead; nobody maps it any more.
	t.Cleanup(func() { _ = os.Remove(filepath.Join("/dev/shm", "rayo-"+sp.NodeID)) })
	gctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	start := time.Now()
	_, err = ref.Get(gctx)
	if !errors.Is(err, rayo.ErrObjectLost) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get after the node died: %v (after %v); want ErrObjectLost", err, time.Since(start))
	}
	t.Logf("Get failed in %v: %v", time.Since(start).Round(time.Microsecond), err)
}

// A value larger than the store and the free space of the spill disk is
// refused with ErrObjectTooLarge; one larger than the store but within
// the disk goes to a fallback file.
func TestObjTooLarge(t *testing.T) {
	spill := t.TempDir()
	// A small spill disk: a 16 MiB tmpfs (needs CAP_SYS_ADMIN).
	if err := syscall.Mount("tmpfs", spill, "tmpfs", 0, "size=16m,mode=0700"); err != nil {
		t.Skipf("cannot mount a small tmpfs for the spill directory (%v); the objstore unit tests cover ErrObjectTooLarge", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(spill, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmounting %s: %v", spill, err)
		}
	})
	// The driver's node is the head's: it gets the small store and disk.
	c := startObjCluster(t, storeArgs(8<<20, spill), nil)
	connect(t, c)
	dumpMemoryOnFailure(t, c)
	ctx := withTimeout(t, time.Minute)

	start := time.Now()
	_, err := rayo.Put(ctx, make([]byte, 32<<20))
	if !errors.Is(err, rayo.ErrObjectTooLarge) {
		t.Fatalf("Put of 32 MiB into an 8 MiB store with 16 MiB of disk: %v; want ErrObjectTooLarge", err)
	}
	t.Logf("refused in %v: %v", time.Since(start).Round(time.Millisecond), err)
	if r := mustListStore(t, c, c.Head()); len(r.Objects) != 0 || r.Used != 0 || r.FallbackBytes != 0 {
		t.Fatalf("the refused Put left %d objects, %d bytes used, %d in fallback files", len(r.Objects), r.Used, r.FallbackBytes)
	}

	data := patternOf(12<<20, 8)
	ref, err := rayo.Put(ctx, data)
	if err != nil {
		t.Fatalf("Put of 12 MiB (larger than the store, within the disk): %v", err)
	}
	got, err := ref.Get(ctx)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get of the 12 MiB value: equal %v, %v", bytes.Equal(got, data), err)
	}
	if o, ok := findObject(mustListStore(t, c, c.Head()), ref.ID()); !ok || !o.Fallback {
		t.Fatalf("the 12 MiB value is %+v (found %v); want it in a fallback file", o, ok)
	}
}

// rayo memory lists a Put value and a task result in the stores, owned
// by the driver, and the driver's references to them.
func TestObjMemoryShowsOwners(t *testing.T) {
	c := startCluster(t)
	connect(t, c)
	dumpMemoryOnFailure(t, c)
	ctx := withTimeout(t, time.Minute)
	const size = 5 << 20
	put, err := rayo.Put(ctx, patternOf(size, 11))
	if err != nil {
		t.Fatal(err)
	}
	res := objMakeBytes.Remote(size, uint64(12))
	if ready, _, err := rayo.Wait(ctx, []rayo.ObjectRef[[]byte]{res}, 1, time.Minute); err != nil || len(ready) != 1 {
		t.Fatalf("the task did not finish: ready %d, %v", len(ready), err)
	}
	rep := rayoMemory(t, c)
	self := memSelf(t, rep)
	if self.Addr == "" {
		t.Fatal("rayo memory gives the driver no address")
	}
	for name, id := range map[string]string{"Put value": put.ID(), "task result": res.ID()} {
		found := false
		for _, n := range rep.Nodes {
			for _, o := range n.Objects {
				if o.ObjectID != id || !o.Primary {
					continue
				}
				found = true
				if o.Owner != self.Addr || o.Size < size || !o.Sealed {
					t.Errorf("%s %s in the store of node %s: %+v; want owner %s, ≥ %d bytes, sealed", name, id, n.NodeID, o, self.Addr, size)
				}
			}
		}
		if !found {
			t.Errorf("%s %s is in no node's store", name, id)
		}
		r, ok := refInfo(self, id)
		if !ok || !r.IsOwner || r.Local < 1 || r.Stored == nil || r.Size < size {
			t.Errorf("the driver's reference to the %s %s: %+v (found %v); want owner, local_refs ≥ 1, stored, ≥ %d bytes", name, id, r, ok, size)
		}
	}
	runtime.KeepAlive(put)
	runtime.KeepAlive(res)
}

// ---- known bugs ----
//
// These tests reproduce bugs found while writing the tests above. They
// fail until the bugs are fixed, so they are skipped unless
// ITEST_KNOWN_BUGS is set (go test -run ObjKnownBug with
// ITEST_KNOWN_BUGS=1).

var objSumArg = rayo.RegisterMethod[[32]byte](sharerActor, "SumArg", func(_ *objSharer, b []byte) [32]byte { return sha256.Sum256(b) })
var objSumKept = rayo.RegisterMethod[[32]byte](sharerActor, "SumKept", func(s *objSharer) [32]byte { return sha256.Sum256(s.b) })

func knownBug(t *testing.T, what string) {
	t.Helper()
	if os.Getenv("ITEST_KNOWN_BUGS") == "" {
		t.Skipf("known bug (set ITEST_KNOWN_BUGS=1 to run): %s", what)
	}
}

// A call that takes an object as a top-level argument releases, when it
// returns, every pin its process holds on the object, including the pin
// behind a zero-copy slice that an earlier ObjectRef.Get returned and
// that the process still uses: the object may then be evicted and its
// memory reused under that slice.
func TestObjArgumentUseKeepsEarlierPin(t *testing.T) {
	c := startObjCluster(t, nil, storeArgs(16<<20, ""))
	connect(t, c)
	dumpMemoryOnFailure(t, c)
	ctx := withTimeout(t, 2*time.Minute)
	sp := specialProc(t, c)
	data := patternOf(4<<20, 3)
	want := sha256.Sum256(data)
	x, err := rayo.Put(ctx, data) // primary on the head's node
	if err != nil {
		t.Fatal(err)
	}
	a, err := sharerActor.Options(rayo.NodeAffinity(sp.NodeID, false)).New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The actor gets x (a pinned secondary copy on its node) and keeps
	// the zero-copy slice and the reference.
	if h, err := sharerHold.Remote(a, objHolder{x}).Get(ctx); err != nil || h.Sum != want {
		t.Fatalf("Hold: %v", err)
	}
	// A call with x as a top-level argument pins x once more, then
	// releases its pin.
	if s, err := objSumArg.Remote(a, x).Get(ctx); err != nil || s != want {
		t.Fatalf("SumArg: %v", err)
	}
	if o, ok := findObject(mustListStore(t, c, sp), x.ID()); !ok || o.Pins < 1 {
		t.Errorf("the special node's copy of x has %d pins (present %v) while the actor holds a slice of it", o.Pins, ok)
	}
	// Fill the special node's 16 MiB store: an unpinned secondary goes.
	var keep []rayo.ObjectRef[[]byte]
	for i := range 5 {
		r := objMakeBytes.Options(rayo.NodeAffinity(sp.NodeID, false)).Remote(4<<20, uint64(100+i))
		if ready, _, err := rayo.Wait(ctx, []rayo.ObjectRef[[]byte]{r}, 1, time.Minute); err != nil || len(ready) != 1 {
			t.Fatalf("filler %d: %v", i, err)
		}
		keep = append(keep, r)
	}
	if s, err := objSumKept.Remote(a).Get(ctx); err != nil || s != want {
		t.Fatalf("the actor's kept zero-copy slice of x changed under it (%v): its pin was released", err)
	}
	runtime.KeepAlive(keep)
	runtime.KeepAlive(x)
}

// Objects owned by a worker (Put inside a task) whose last borrower has
// gone leave the stores without anyone asking the worker to collect: a
// worker collects once idle after a call that made refs (an idle worker
// of the Go runtime alone may not collect for minutes).
func TestObjIdleOwnerFreesDroppedObjects(t *testing.T) {
	c := startCluster(t)
	connect(t, c)
	dumpMemoryOnFailure(t, c)
	ctx := withTimeout(t, time.Minute)
	sp := specialProc(t, c)
	ids := map[string]bool{}
	func() {
		built, err := objBuildNested.Options(rayo.Resources(special)).Remote(1<<20, 200<<10).Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ids[built.Outer.ID()] = true
		if _, err := built.Outer.Get(ctx); err != nil {
			t.Fatal(err)
		}
	}()
	waitFreed(t, c, 30*time.Second, ids, "the outer object to leave the stores without help from its owner's collector", sp, c.Head())
}

// A secondary copy pulled to another node is listed by `rayo memory`
// without its owner.
func TestObjSecondaryCopyShowsOwner(t *testing.T) {
	c := startCluster(t)
	connect(t, c)
	dumpMemoryOnFailure(t, c)
	ctx := withTimeout(t, time.Minute)
	ref := objMakeBytes.Options(rayo.Resources(special)).Remote(5<<20, uint64(4))
	if _, err := ref.Get(ctx); err != nil {
		t.Fatal(err)
	}
	rep := rayoMemory(t, c)
	self := memSelf(t, rep)
	for _, o := range memNode(t, rep, c.HeadNodeID()).Objects {
		if o.ObjectID == ref.ID() {
			if o.Primary || o.Owner != self.Addr {
				t.Fatalf("the head's copy of the result: %+v; want a secondary owned by %s", o, self.Addr)
			}
			return
		}
	}
	t.Fatal("the head's store holds no copy of the result the driver got")
}

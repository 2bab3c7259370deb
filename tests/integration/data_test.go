package integration_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/data"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/testcluster"
)

// Data on a multi-process cluster: a head and node daemons as real
// processes, this test binary as the driver and as every worker.

type dID struct {
	ID int64 `arrow:"id"`
}

type dTagged struct {
	ID   int64  `arrow:"id"`
	Node string `arrow:"node"`
}

type dKeyed struct {
	ID   int64  `arrow:"id"`
	K    int64  `arrow:"k"`
	Node string `arrow:"node"`
}

type dGroup struct {
	K   int64 `arrow:"k"`
	N   int64 `arrow:"count()"`
	Sum int64 `arrow:"sum(id)"`
}

// dScratch is a directory that the driver and every worker of the
// cluster find: workers carry the cluster's marker in their environment,
// so no argument needs to reach a UDF (Data's functions take none).
func dScratch() string {
	return filepath.Join(os.TempDir(), "rayo-itest-data-"+os.Getenv(testcluster.MarkerEnv))
}

// dMakeScratch creates the cluster's scratch directory for this test.
func dMakeScratch(t *testing.T, c *testcluster.Cluster) string {
	t.Helper()
	dir := filepath.Join(os.TempDir(), "rayo-itest-data-"+c.Marker())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

func int64Col(b arrow.RecordBatch, name string) ([]int64, error) {
	idx := b.Schema().FieldIndices(name)
	if len(idx) == 0 {
		return nil, fmt.Errorf("no column %q", name)
	}
	col, ok := b.Column(idx[0]).(*array.Int64)
	if !ok {
		return nil, fmt.Errorf("column %q is %s", name, b.Column(idx[0]).DataType())
	}
	return col.Int64Values(), nil
}

func nodeColumn(n int) arrow.Array {
	bld := array.NewStringBuilder(memory.DefaultAllocator)
	defer bld.Release()
	id := rayo.NodeID()
	for range n {
		bld.Append(id)
	}
	return bld.NewArray()
}

var (
	// dNode adds the node that ran it; it takes a little time so that a
	// run's tasks spread over the cluster's CPUs.
	dNode = data.ColumnFunc("itest.data.node", func(ctx context.Context, b arrow.RecordBatch) (arrow.Array, error) {
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return nodeColumn(int(b.NumRows())), nil
	})
	dKey = data.MapFunc("itest.data.key", func(r dTagged) (dKeyed, error) {
		return dKeyed{ID: r.ID, K: r.ID % 7, Node: r.Node}, nil
	})
	dPanic = data.BatchFunc("itest.data.panic", func(_ context.Context, b arrow.RecordBatch) (arrow.RecordBatch, error) {
		ids, err := int64Col(b, "id")
		if err != nil {
			return nil, err
		}
		if slices.Contains(ids, 15_000) {
			panic("itest: data UDF panics")
		}
		return b, nil
	})

	// dHangOnce: on its first attempt on the batch holding id 0 it
	// writes its pid to <scratch>/pid and waits to be killed; afterwards
	// (the marker exists) it passes the batch through.
	dHangOnce = data.BatchFunc("itest.data.hangOnce", func(ctx context.Context, b arrow.RecordBatch) (arrow.RecordBatch, error) {
		ids, err := int64Col(b, "id")
		if err != nil {
			return nil, err
		}
		if !slices.Contains(ids, 0) {
			return b, nil
		}
		dir := dScratch()
		f, err := os.OpenFile(filepath.Join(dir, "once"), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if errors.Is(err, fs.ErrExist) {
			return b, nil
		}
		if err != nil {
			return nil, err
		}
		_ = f.Close()
		if err := os.WriteFile(filepath.Join(dir, "pid.tmp"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
			return nil, err
		}
		if err := os.Rename(filepath.Join(dir, "pid.tmp"), filepath.Join(dir, "pid")); err != nil {
			return nil, err
		}
		<-ctx.Done() // the test kills this process first
		return nil, ctx.Err()
	})

	// dProduce tags a block with its node and announces it in
	// <scratch>/produced-<node>-<first id>.
	dProduce = data.ColumnFunc("itest.data.produce", func(_ context.Context, b arrow.RecordBatch) (arrow.Array, error) {
		ids, err := int64Col(b, "id")
		if err != nil {
			return nil, err
		}
		if len(ids) > 0 {
			name := fmt.Sprintf("produced-%s-%d", rayo.NodeID(), ids[0])
			if err := os.WriteFile(filepath.Join(dScratch(), name), nil, 0o644); err != nil {
				return nil, err
			}
		}
		return nodeColumn(len(ids)), nil
	})

	// dGate passes batches through, but the first call of the run (on the
	// batch holding id 0) announces itself in <scratch>/gated and waits
	// for <scratch>/go: the consumer stops while producers go on.
	dGate = data.BatchFunc("itest.data.gate", func(ctx context.Context, b arrow.RecordBatch) (arrow.RecordBatch, error) {
		ids, err := int64Col(b, "id")
		if err != nil {
			return nil, err
		}
		if !slices.Contains(ids, 0) {
			return b, nil
		}
		dir := dScratch()
		if err := os.WriteFile(filepath.Join(dir, "gated"), nil, 0o644); err != nil {
			return nil, err
		}
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			if _, err := os.Stat(filepath.Join(dir, "go")); err == nil {
				return b, nil
			}
			select {
			case <-tick.C: // a file handshake with another process: polling
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
	})
)

// dModel is a stateful UDF's state: the node its actor runs on.
type dModel struct {
	node  string
	pid   int64
	scale int64
	sleep time.Duration
}

type dModelArgs struct {
	Scale int64
	Sleep time.Duration // per batch: the model's work, so that a pool grows
}

type dModelRow struct {
	Y    int64  `arrow:"y"`
	Node string `arrow:"node"`
	Pid  int64  `arrow:"pid"`
}

var dModelClass = data.RegisterClass("itest.data.model", func(_ context.Context, a dModelArgs) (*dModel, error) {
	return &dModel{node: rayo.NodeID(), pid: int64(os.Getpid()), scale: a.Scale, sleep: a.Sleep}, nil
}, func(ctx context.Context, m *dModel, b arrow.RecordBatch) (arrow.RecordBatch, error) {
	select {
	case <-time.After(m.sleep):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	ids, err := int64Col(b, "id")
	if err != nil {
		return nil, err
	}
	y := array.NewInt64Builder(memory.DefaultAllocator)
	defer y.Release()
	pid := array.NewInt64Builder(memory.DefaultAllocator)
	defer pid.Release()
	for _, v := range ids {
		y.Append(v * m.scale)
		pid.Append(m.pid)
	}
	nodes := array.NewStringBuilder(memory.DefaultAllocator)
	defer nodes.Release()
	for range ids {
		nodes.Append(m.node)
	}
	schema := arrow.NewSchema([]arrow.Field{{Name: "y", Type: arrow.PrimitiveTypes.Int64},
		{Name: "node", Type: arrow.BinaryTypes.String}, {Name: "pid", Type: arrow.PrimitiveTypes.Int64}}, nil)
	return array.NewRecordBatch(schema, []arrow.Array{y.NewArray(), nodes.NewArray(), pid.NewArray()}, b.NumRows()), nil
})

// dSplitShare is what a consumer of a StreamingSplit share saw.
type dSplitShare struct {
	Node string
	IDs  []int64
}

// dConsume reads one share of a StreamingSplit in a task, like a Train
// worker.
var dConsume = rayo.Register[dSplitShare]("itest.data.consume", func(ctx context.Context, it *data.DataIterator) (dSplitShare, error) {
	out := dSplitShare{Node: rayo.NodeID()}
	for r, err := range data.IterSplitRows[dID](ctx, it) {
		if err != nil {
			return out, err
		}
		out.IDs = append(out.IDs, r.ID)
	}
	return out, nil
})

func dQuiet(d *data.Dataset) *data.Dataset {
	return d.WithOptions(data.Progress(data.ProgressQuiet, nil))
}

// dSlot is a resource each node of dCluster has once: a task or actor
// that asks for it lands on a node of its own.
var dSlot = map[string]float64{"dslot": 1}

// dCluster is a head and one worker node, 2 CPUs and one dslot each.
func dCluster(t *testing.T) *testcluster.Cluster {
	t.Helper()
	c := testcluster.Start(t, testcluster.NodeSpec{CPUs: 2, Resources: dSlot}, testcluster.NodeSpec{CPUs: 2, Resources: dSlot})
	connect(t, c)
	return c
}

// nodesOf counts the rows per node ID.
func nodesOf[T any](rows []T, node func(T) string) map[string]int {
	m := map[string]int{}
	for _, r := range rows {
		m[node(r)]++
	}
	return m
}

// TestDataPipelineAcrossNodes: Range -> AddColumn -> WriteParquet, then
// ReadParquet -> Map -> GroupBy().Aggregate and a Sort, on two nodes:
// blocks are made on both and consumed across them, results exact.
func TestDataPipelineAcrossNodes(t *testing.T) {
	c := dCluster(t)
	ctx := withTimeout(t, 3*time.Minute)
	const n = 20_000
	dir := filepath.Join(t.TempDir(), "pq")
	files, err := dQuiet(data.Range(n, data.Parallelism(8))).AddColumn("node", dNode, data.BatchSize(500)).
		WriteParquet(ctx, dir, data.MaxRowsPerFile(2500))
	if err != nil {
		t.Fatalf("WriteParquet: %v", err)
	}
	if len(files) != n/2500 {
		t.Fatalf("WriteParquet wrote %d files, want %d: %v", len(files), n/2500, files)
	}

	keyed := dQuiet(data.ReadParquet([]string{dir})).Map(dKey)
	rows, err := data.TakeAll[dKeyed](ctx, keyed)
	if err != nil {
		t.Fatalf("TakeAll: %v", err)
	}
	if len(rows) != n {
		t.Fatalf("%d rows, want %d", len(rows), n)
	}
	for i, r := range rows {
		if r.ID != int64(i) || r.K != int64(i%7) {
			t.Fatalf("row %d: %+v", i, r)
		}
	}
	// Both nodes made blocks (the node column is where AddColumn ran).
	nodes := nodesOf(rows, func(r dKeyed) string { return r.Node })
	want := []string{c.HeadNodeID(), c.NodeProcs()[0].NodeID}
	for _, id := range want {
		if nodes[id] == 0 {
			t.Fatalf("no block was made on node %s: rows per node %v", id, nodes)
		}
	}
	t.Logf("rows made per node: %v", nodes)

	groups, err := data.TakeAll[dGroup](ctx, keyed.GroupBy("k").Aggregate(data.Count(), data.Sum("id")).Sort(data.Asc("k")))
	if err != nil {
		t.Fatalf("GroupBy: %v", err)
	}
	if len(groups) != 7 {
		t.Fatalf("%d groups, want 7: %+v", len(groups), groups)
	}
	for k, g := range groups {
		var cnt, sum int64
		for i := int64(k); i < n; i += 7 {
			cnt++
			sum += i
		}
		if g.K != int64(k) || g.N != cnt || g.Sum != sum {
			t.Errorf("group %d: %+v, want count %d sum %d", k, g, cnt, sum)
		}
	}

	sorted, err := data.TakeAll[dID](ctx, dQuiet(data.ReadParquet([]string{dir}, data.Columns("id"))).Sort(data.Desc("id")))
	if err != nil {
		t.Fatalf("Sort: %v", err)
	}
	if len(sorted) != n {
		t.Fatalf("Sort: %d rows", len(sorted))
	}
	for i, r := range sorted {
		if r.ID != int64(n-1-i) {
			t.Fatalf("sorted row %d is %d", i, r.ID)
		}
	}
}

// dCheckPool checks a pool's rows: exact, in order, from two actors on
// the two nodes.
func dCheckPool(t *testing.T, c *testcluster.Cluster, got []dModelRow, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("%d rows, want %d", len(got), n)
	}
	pids := map[int64]bool{}
	for i, r := range got {
		if r.Y != int64(3*i) {
			t.Fatalf("row %d: %+v", i, r)
		}
		pids[r.Pid] = true
	}
	nodes := nodesOf(got, func(r dModelRow) string { return r.Node })
	if len(pids) != 2 || len(nodes) != 2 || nodes[c.HeadNodeID()] == 0 || nodes[c.NodeProcs()[0].NodeID] == 0 {
		t.Fatalf("the pool's rows came from actors %v on nodes %v, want two actors on both nodes", pids, nodes)
	}
}

// TestDataActorPoolAcrossNodes: a stateful UDF on a fixed pool of two
// actors (Concurrency(2, 2)), each needing half a CPU and a node's only
// dslot: one actor per node, exact results in order.
func TestDataActorPoolAcrossNodes(t *testing.T) {
	dRunPool(t, 6000, dModelArgs{Scale: 3}, 2, 2)
}

// dRunPool runs n rows through a pool of min to max model actors, each
// needing half a CPU and a node's only dslot, and checks the rows.
func dRunPool(t *testing.T, n int, args dModelArgs, min, max int) {
	t.Helper()
	c := dCluster(t)
	ctx := withTimeout(t, 3*time.Minute)
	ds := dQuiet(data.Range(int64(n), data.Parallelism(12))).MapBatches(dModelClass.With(args),
		data.Concurrency(min, max), data.BatchSize(250), data.NumCPUs(0.5), data.Resources(dSlot)).
		WithOptions(data.StallTimeout(time.Minute))
	got, err := data.TakeAll[dModelRow](ctx, ds)
	if err != nil {
		t.Fatalf("TakeAll: %v", err)
	}
	dCheckPool(t, c, got, n)
}

// TestDataActorPoolGrowsAcrossNodes: an autoscaling pool
// (Concurrency(1, 2)) of actors that each need half a CPU and a node's
// only dslot grows to its second actor, on the other node, while work
// waits; exact results in order.
func TestDataActorPoolGrowsAcrossNodes(t *testing.T) {
	dRunPool(t, 12_000, dModelArgs{Scale: 3, Sleep: 100 * time.Millisecond}, 1, 2)
}

// TestDataStreamingSplitAcrossNodes: the two shares of a
// StreamingSplit(2, equal) are consumed by tasks on different nodes:
// equal rows, every row once.
func TestDataStreamingSplitAcrossNodes(t *testing.T) {
	c := dCluster(t)
	ctx := withTimeout(t, 3*time.Minute)
	const n = 10_001
	its, err := dQuiet(data.Range(n, data.Parallelism(8))).AddColumn("node", dNode).StreamingSplit(ctx, 2, true)
	if err != nil {
		t.Fatalf("StreamingSplit: %v", err)
	}
	opt := rayo.Resources(dSlot)
	a, b := dConsume.Options(opt).Remote(its[0]), dConsume.Options(opt).Remote(its[1])
	sa, err := a.Get(ctx)
	if err != nil {
		t.Fatalf("share 0: %v", err)
	}
	sb, err := b.Get(ctx)
	if err != nil {
		t.Fatalf("share 1: %v", err)
	}
	if sa.Node == sb.Node || (sa.Node != c.HeadNodeID() && sb.Node != c.HeadNodeID()) {
		t.Fatalf("the shares were consumed on nodes %s and %s, want the two nodes", sa.Node, sb.Node)
	}
	if len(sa.IDs) != n/2 || len(sb.IDs) != n/2 {
		t.Fatalf("the shares have %d and %d rows, want %d each", len(sa.IDs), len(sb.IDs), n/2)
	}
	seen := make(map[int64]bool, n)
	for _, id := range append(sa.IDs, sb.IDs...) {
		if id < 0 || id >= n || seen[id] {
			t.Fatalf("row %d out of range or seen twice", id)
		}
		seen[id] = true
	}
}

// dRunAsync runs TakeAll of ds in a goroutine that the returned wait
// function joins; the test's cleanup cancels it if the test stops early.
func dRunAsync[T any](t *testing.T, ds *data.Dataset, d time.Duration) func() ([]T, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	type result struct {
		rows []T
		err  error
	}
	done := make(chan result, 1)
	go func() {
		rows, err := data.TakeAll[T](ctx, ds)
		done <- result{rows, err}
	}()
	var res *result
	wait := func() ([]T, error) {
		if res == nil {
			r := <-done
			res = &r
		}
		return res.rows, res.err
	}
	t.Cleanup(func() {
		cancel()
		_, _ = wait()
	})
	return wait
}

// TestDataWorkerKilledTaskRetried: the worker running a Data task dies
// (kill -9) mid-pipeline; the task is retried and the result is exact.
func TestDataWorkerKilledTaskRetried(t *testing.T) {
	c := dCluster(t)
	dir := dMakeScratch(t, c)
	const n = 4000
	wait := dRunAsync[dID](t, dQuiet(data.Range(n, data.Parallelism(4))).MapBatches(dHangOnce, data.BatchSize(0)), 3*time.Minute)
	pidFile := filepath.Join(dir, "pid")
	waitFile(t, pidFile, "the Data task to start its first attempt")
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(string(b))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(c.WorkerPids(t), pid) {
		t.Fatalf("pid %d is not a worker of the cluster", pid)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	rows, err := wait()
	if err != nil {
		t.Fatalf("the pipeline after its worker was killed: %v", err)
	}
	if len(rows) != n {
		t.Fatalf("%d rows, want %d", len(rows), n)
	}
	for i, r := range rows {
		if r.ID != int64(i) {
			t.Fatalf("row %d is %d", i, r.ID)
		}
	}
}

// TestDataNodeKilledMidPipeline: blocks made on a node that dies before
// they are consumed are rebuilt (lineage) or their tasks retried, and the
// pipeline completes with exact results.
func TestDataNodeKilledMidPipeline(t *testing.T) {
	prod := map[string]float64{"dprod": 1}
	gate := map[string]float64{"dgate": 1}
	// The head consumes (dgate), the victim produces (dprod).
	c := testcluster.Start(t, testcluster.NodeSpec{CPUs: 2, Resources: gate}, testcluster.NodeSpec{CPUs: 2, Resources: prod})
	connect(t, c)
	victim := c.NodeProcs()[0]
	dir := dMakeScratch(t, c)
	// 10,000 rows a block: about 280 KB, above the 100 KiB inline limit,
	// so that the blocks live in the victim's store, not in the driver.
	const n, blocks = 80_000, 8
	ds := dQuiet(data.Range(n, data.Parallelism(blocks))).
		AddColumn("node", dProduce, data.BatchSize(0), data.Resources(prod), data.NumCPUs(0.5)).
		MapBatches(dGate, data.BatchSize(0), data.Resources(gate), data.NumCPUs(0.5))
	wait := dRunAsync[dTagged](t, ds, 3*time.Minute)

	waitFile(t, filepath.Join(dir, "gated"), "the consumer to hold the first block")
	produced := func() int {
		ents, _ := os.ReadDir(dir)
		k := 0
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), "produced-"+victim.NodeID+"-") {
				k++
			}
		}
		return k
	}
	c.WaitFor(t, time.Minute, func() bool { return produced() >= 3 }, "blocks made on the victim node")
	before := produced()
	c.KillNode(t, victim)
	fresh := c.AddNode(t, testcluster.NodeSpec{CPUs: 2, Resources: prod})
	if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	rows, err := wait()
	if err != nil {
		t.Fatalf("the pipeline after its producer node died (%d blocks made there): %v", before, err)
	}
	if len(rows) != n {
		t.Fatalf("%d rows, want %d", len(rows), n)
	}
	for i, r := range rows {
		if r.ID != int64(i) {
			t.Fatalf("row %d is %d", i, r.ID)
		}
	}
	per := nodesOf(rows, func(r dTagged) string { return r.Node })
	t.Logf("%d blocks made on the victim %s before it died; rows per producing node: %v (new node %s)", before, victim.NodeID, per, fresh.NodeID)
	if per[fresh.NodeID] == 0 {
		t.Fatalf("no block was made again on the new node: rows per node %v", per)
	}
}

// TestDataBadInputOnCluster: a panicking UDF fails the run with
// data.ErrUDF and leaves the cluster working; a missing or corrupt file
// gives a typed error naming it; a write whose pipeline fails leaves no
// file behind.
func TestDataBadInputOnCluster(t *testing.T) {
	dCluster(t)
	ctx := withTimeout(t, 3*time.Minute)
	const n = 20_000
	_, err := dQuiet(data.Range(n, data.Parallelism(8))).MapBatches(dPanic).Count(ctx)
	if !errors.Is(err, data.ErrUDF) || !strings.Contains(err.Error(), "itest: data UDF panics") ||
		!strings.Contains(err.Error(), `MapBatches(itest.data.panic): function "itest.data.panic" failed on rows [`) {
		t.Fatalf("a panicking UDF: %v, want data.ErrUDF naming the operator, the rows and the panic", err)
	}
	var ue *data.UDFError
	t.Logf("errors.As(err, *data.UDFError) across processes: %v", errors.As(err, &ue))

	// The cluster is unharmed: the next pipeline on it succeeds.
	rows, err := data.TakeAll[dID](ctx, dQuiet(data.Range(1000, data.Parallelism(4))))
	if err != nil || len(rows) != 1000 || rows[999].ID != 999 {
		t.Fatalf("a pipeline after the failure: %d rows, %v", len(rows), err)
	}

	// A file that does not exist, a corrupt Parquet file: typed errors
	// naming the file, from the read tasks in the workers.
	missing := filepath.Join(t.TempDir(), "nope.parquet")
	if _, err := dQuiet(data.ReadParquet([]string{missing})).Count(ctx); !errors.Is(err, data.ErrNotFound) || !strings.Contains(err.Error(), "nope.parquet") {
		t.Fatalf("a missing file: %v, want data.ErrNotFound naming it", err)
	}
	corrupt := filepath.Join(t.TempDir(), "bad.parquet")
	if err := os.WriteFile(corrupt, []byte("PAR1 this is not parquet PAR1"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := data.TakeAll[dID](ctx, dQuiet(data.ReadParquet([]string{corrupt}))); !errors.Is(err, data.ErrCorrupt) || !strings.Contains(err.Error(), "bad.parquet") {
		t.Fatalf("a corrupt file: %v, want data.ErrCorrupt naming it", err)
	}

	// A write whose pipeline fails part way leaves nothing.
	out := filepath.Join(t.TempDir(), "out")
	files, err := dQuiet(data.Range(n, data.Parallelism(8))).MapBatches(dPanic, data.BatchSize(100)).
		WriteParquet(ctx, out, data.MaxRowsPerFile(500))
	if !errors.Is(err, data.ErrUDF) {
		t.Fatalf("a failing write: %v (files %v), want ErrUDF", err, files)
	}
	var left []string
	_ = filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			left = append(left, p)
		}
		return nil
	})
	if len(left) > 0 || len(files) > 0 {
		t.Fatalf("a failed write left files: %v (returned %v)", left, files)
	}
	// And a write on the same cluster then succeeds.
	if files, err := dQuiet(data.Range(1000, data.Parallelism(2))).WriteParquet(ctx, out, data.MaxRowsPerFile(500)); err != nil || len(files) != 2 {
		t.Fatalf("a write after the failed one: %v %v", files, err)
	}
}

// TestDataCoreTwoActorsOneSlotEach reproduces, with the core API only,
// what hangs TestDataActorPoolAcrossNodes: two actors created at once,
// each needing the one dslot that each of two nodes has. Both must
// come up, one per node.
func TestDataCoreTwoActorsOneSlotEach(t *testing.T) {
	c := dCluster(t)
	ctx := withTimeout(t, time.Minute)
	var refs []rayo.ObjectRef[string]
	for range 2 {
		a, err := linCounterType.Options(rayo.Resources(dSlot)).New(ctx)
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, linIncr.Remote(a))
	}
	ready, _, err := rayo.Wait(ctx, refs, 2, 30*time.Second)
	if err != nil || len(ready) != 2 {
		t.Fatalf("%d of the 2 actors answered within 30s (%v); actors: %+v", len(ready), err, c.Status(t).Actors)
	}
	a, _ := refs[0].Get(ctx)
	b, _ := refs[1].Get(ctx)
	if a == b {
		t.Fatalf("both actors on node %s", a)
	}
}

// TestDataUnplaceablePoolStalls: a pool whose actors no node can hold
// fails the run with data.ErrStalled naming the operator, never a silent
// hang; its pending actors are given back and the cluster runs the next
// pipeline.
func TestDataUnplaceablePoolStalls(t *testing.T) {
	c := dCluster(t)
	ctx := withTimeout(t, 2*time.Minute)
	ds := dQuiet(data.Range(1000, data.Parallelism(4))).MapBatches(dModelClass.With(dModelArgs{Scale: 1}),
		data.Concurrency(1, 1), data.Resources(map[string]float64{"nowhere": 1})).
		WithOptions(data.StallTimeout(5 * time.Second))
	_, err := ds.Count(ctx)
	var se *data.StallError
	if !errors.Is(err, data.ErrStalled) || !errors.As(err, &se) || !strings.Contains(se.Op, "itest.data.model") {
		t.Fatalf("a pool that cannot be placed: %v, want a *data.StallError naming MapBatches(itest.data.model)", err)
	}
	c.WaitFor(t, 30*time.Second, func() bool {
		for _, a := range c.Status(t).Actors {
			if a.State != protocol.ActorDead {
				return false
			}
		}
		return true
	}, "the pool's pending actor to be given back")
	if n, err := dQuiet(data.Range(1000, data.Parallelism(4))).Count(ctx); err != nil || n != 1000 {
		t.Fatalf("a pipeline after the stalled one: %d %v", n, err)
	}
}

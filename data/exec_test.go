package data_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/data"
)

// storeMetric reads one of the node's object-store figures from the
// dashboard's /metrics (loopback needs no token).
func storeMetric(t *testing.T, name string) float64 {
	t.Helper()
	v, found := scrape(t, name)
	if !found {
		t.Fatalf("no %s at /metrics", name)
	}
	return v
}

// storeMetricOr is storeMetric, 0 for a metric not there (yet).
func storeMetricOr(t *testing.T, name string) float64 {
	t.Helper()
	v, _ := scrape(t, name)
	return v
}

// scrape sums the samples of a metric (name, or name{labels} exactly).
func scrape(t *testing.T, name string) (float64, bool) {
	t.Helper()
	resp, err := http.Get("http://" + rayo.DashboardAddress() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	total, found := 0.0, false
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, name+" ") || strings.HasPrefix(line, name+"{") {
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err != nil {
				t.Fatal(err)
			}
			total += v
			found = true
		}
	}
	return total, found
}

var fWiden = data.BatchFunc("test.widen", func(_ context.Context, b arrow.RecordBatch) (arrow.RecordBatch, error) {
	// 8 int64 columns from one: 64 bytes a row.
	ids := b.Column(0).(*array.Int64).Int64Values()
	fields := make([]arrow.Field, 8)
	cols := make([]arrow.Array, 8)
	for c := range cols {
		bld := array.NewInt64Builder(memory.DefaultAllocator)
		bld.Reserve(len(ids))
		for _, v := range ids {
			bld.UnsafeAppend(v + int64(c))
		}
		cols[c] = bld.NewArray()
		fields[c] = arrow.Field{Name: fmt.Sprintf("c%d", c), Type: arrow.PrimitiveTypes.Int64}
	}
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, b.NumRows()), nil
})

// TestStreamsMoreThanTheStoreWithinBudget: 1.5 store-fulls stream through
// a map into a consumer, with the run's holdings and the store's actual
// use never above the budget, and nothing spilled.
func TestStreamsMoreThanTheStoreWithinBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 384 MiB")
	}
	ctx := testCtx(t)
	const budget = 32 << 20
	rowsTotal := int64(storeBytes) * 3 / 2 / 64
	spills0 := storeMetric(t, "rayo_object_store_spills_total")
	used0 := storeMetric(t, "rayo_object_store_used_bytes")
	ds := quiet(data.Range(rowsTotal, data.Parallelism(48))).MapBatches(fWiden, data.BatchSize(0)).
		WithOptions(data.ObjectStoreBudget(budget), data.TargetBlockSize(4<<20))
	var rows int64
	peakUsed := 0.0
	batches := 0
	for b, err := range ds.IterBatches(ctx, data.IterBatchSize(0)) {
		if err != nil {
			t.Fatal(err)
		}
		rows += b.NumRows()
		if batches++; batches%8 == 0 {
			peakUsed = max(peakUsed, storeMetric(t, "rayo_object_store_used_bytes")-used0)
		}
	}
	if rows != rowsTotal {
		t.Fatalf("%d rows, want %d", rows, rowsTotal)
	}
	st := ds.Stats()
	if st.PeakBytes > budget || st.Budget != budget {
		t.Fatalf("the run held %d bytes, budget %d", st.PeakBytes, st.Budget)
	}
	if peakUsed > budget {
		t.Fatalf("the store held %.0f bytes more than before the run, budget %d", peakUsed, budget)
	}
	if s := storeMetric(t, "rayo_object_store_spills_total"); s != spills0 {
		t.Fatalf("%v objects spilled", s-spills0)
	}
	t.Logf("%d MiB streamed; run peak %d MiB, store peak +%.1f MiB, budget %d MiB", rowsTotal*64>>20, st.PeakBytes>>20, peakUsed/(1<<20), budget>>20)

	// Two tasks whose outputs are each six times the budget: they wait for
	// the consumer instead of piling their blocks up.
	big := quiet(data.Range(rowsTotal/2, data.Parallelism(2))).MapBatches(fWiden, data.BatchSize(0)).
		WithOptions(data.ObjectStoreBudget(budget), data.TargetBlockSize(4<<20))
	rows = 0
	for b, err := range big.IterBatches(ctx, data.IterBatchSize(0)) {
		if err != nil {
			t.Fatal(err)
		}
		rows += b.NumRows()
	}
	if st := big.Stats(); rows != rowsTotal/2 || st.PeakBytes > budget+2*(4<<20) {
		t.Fatalf("%d rows; big tasks: the run held %d bytes, budget %d", rows, st.PeakBytes, budget)
	}
}

var fBlock = data.BatchFunc("test.block", func(ctx context.Context, b arrow.RecordBatch) (arrow.RecordBatch, error) {
	<-ctx.Done() // never finishes on its own
	return nil, ctx.Err()
})

// TestStallNamesTheOperator: a pipeline that makes no progress fails with
// a StallError naming the operator, and its task is stopped.
func TestStallNamesTheOperator(t *testing.T) {
	ctx := testCtx(t)
	_, err := quiet(data.Range(10)).MapBatches(fBlock).WithOptions(data.StallTimeout(300 * time.Millisecond)).Count(ctx)
	var se *data.StallError
	if !errors.As(err, &se) || !errors.Is(err, data.ErrStalled) || !strings.Contains(se.Op, "MapBatches(test.block)") {
		t.Fatalf("a stalled pipeline: %v", err)
	}
	// A consumer slower than the stall timeout is not a stall.
	slow := quiet(data.Range(3000, data.Parallelism(3))).WithOptions(data.StallTimeout(100 * time.Millisecond))
	rows := 0
	for b, err := range slow.IterBatches(ctx, data.IterBatchSize(1000)) {
		if err != nil {
			t.Fatalf("a slow consumer: %v", err)
		}
		rows += int(b.NumRows())
		time.Sleep(300 * time.Millisecond) // the consumer's own slowness, not synchronisation
	}
	if rows != 3000 {
		t.Fatalf("a slow consumer got %d rows", rows)
	}
	// The cluster is free again: a run after it completes.
	if n, err := quiet(data.Range(100)).Map(fSquare).Count(ctx); err != nil || n != 100 {
		t.Fatalf("after the stall: %d %v", n, err)
	}
}

// model is a stateful function's state: built once per actor.
type model struct {
	pid   int64
	scale int64
}

type modelArgs struct {
	Scale int64
}

var cModel = data.RegisterClass("test.model", func(_ context.Context, a modelArgs) (*model, error) {
	if a.Scale == 0 {
		return nil, errors.New("scale 0")
	}
	return &model{pid: int64(os.Getpid()), scale: a.Scale}, nil
}, func(_ context.Context, m *model, b arrow.RecordBatch) (arrow.RecordBatch, error) {
	time.Sleep(20 * time.Millisecond) // the model's work: lets the pool grow
	ids := b.Column(0).(*array.Int64).Int64Values()
	y := array.NewInt64Builder(memory.DefaultAllocator)
	pid := array.NewInt64Builder(memory.DefaultAllocator)
	for _, v := range ids {
		y.Append(v * m.scale)
		pid.Append(m.pid)
	}
	schema := arrow.NewSchema([]arrow.Field{{Name: "y", Type: arrow.PrimitiveTypes.Int64}, {Name: "pid", Type: arrow.PrimitiveTypes.Int64}}, nil)
	return array.NewRecordBatch(schema, []arrow.Array{y.NewArray(), pid.NewArray()}, b.NumRows()), nil
})

type modelRow struct {
	Y   int64 `arrow:"y"`
	Pid int64 `arrow:"pid"`
}

// TestActorPool: a stateful function runs on a pool that grows from one
// actor to two while work waits, builds its state once per actor, keeps
// the rows in order, and fails clearly when its constructor fails.
func TestActorPool(t *testing.T) {
	ctx := testCtx(t)
	ds := quiet(data.Range(4000, data.Parallelism(20))).MapBatches(cModel.With(modelArgs{Scale: 3}),
		data.Concurrency(2, 2), data.BatchSize(100), data.NumCPUs(0.5))
	got, err := data.TakeAll[modelRow](ctx, ds)
	if err != nil {
		t.Fatal(err)
	}
	pids := map[int64]bool{}
	for i, r := range got {
		if r.Y != int64(3*i) {
			t.Fatalf("row %d: %+v", i, r)
		}
		pids[r.Pid] = true
	}
	if len(got) != 4000 || len(pids) != 2 {
		t.Fatalf("%d rows from %d actors, want 4000 from 2: %+v", len(got), len(pids), ds.Stats().Ops)
	}
	if st := ds.Stats().Ops; st[1].Actors != 2 {
		t.Fatalf("pool stats: %+v", st)
	}
	// An autoscaling pool grows while work waits.
	grown := quiet(data.Range(10_000, data.Parallelism(20))).MapBatches(cModel.With(modelArgs{Scale: 1}),
		data.Concurrency(1, 2), data.BatchSize(100), data.NumCPUs(0.5))
	if n, err := grown.Count(ctx); err != nil || n != 10_000 {
		t.Fatalf("Count: %d %v", n, err)
	}
	if st := grown.Stats().Ops; st[1].Actors != 2 {
		t.Fatalf("the pool did not grow: %+v", st[1])
	}
	_, err = quiet(data.Range(10)).MapBatches(cModel.With(modelArgs{}), data.Concurrency(1, 1)).Count(ctx)
	if !errors.Is(err, data.ErrUDF) || !strings.Contains(err.Error(), "scale 0") {
		t.Fatalf("a failing constructor: %v", err)
	}
}

package data_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/data"
)

type idRow struct {
	ID int64 `arrow:"id"`
}

type squareRow struct {
	ID int64 `arrow:"id"`
	Sq int64 `arrow:"sq"`
}

var (
	fSquare = data.MapFunc("test.square", func(r idRow) (squareRow, error) { return squareRow{r.ID, r.ID * r.ID}, nil })
	fEven   = data.FilterFunc("test.even", func(r idRow) (bool, error) { return r.ID%2 == 0, nil })
	fTwice  = data.FlatMapFunc("test.twice", func(r idRow) ([]idRow, error) { return []idRow{r, r}, nil })
	fPlus1  = data.BatchFunc("test.plus1", func(_ context.Context, b arrow.RecordBatch) (arrow.RecordBatch, error) {
		col := b.Column(b.Schema().FieldIndices("id")[0]).(*array.Int64)
		bld := array.NewInt64Builder(memory.DefaultAllocator)
		for _, v := range col.Int64Values() {
			bld.Append(v + 1)
		}
		return array.NewRecordBatch(b.Schema(), []arrow.Array{bld.NewArray()}, b.NumRows()), nil
	})
	fFailAt = data.MapFunc("test.failAt77", func(r idRow) (idRow, error) {
		if r.ID == 77 {
			return r, errors.New("seventy-seven")
		}
		return r, nil
	})
	fPanic = data.BatchFunc("test.panic", func(context.Context, arrow.RecordBatch) (arrow.RecordBatch, error) { panic("boom") })
	fShort = data.ColumnFunc("test.short", func(_ context.Context, b arrow.RecordBatch) (arrow.Array, error) {
		bld := array.NewInt64Builder(memory.DefaultAllocator)
		bld.Append(1)
		return bld.NewArray(), nil
	})
	fDouble = data.ColumnFunc("test.double", func(_ context.Context, b arrow.RecordBatch) (arrow.Array, error) {
		col := b.Column(b.Schema().FieldIndices("id")[0]).(*array.Int64)
		bld := array.NewInt64Builder(memory.DefaultAllocator)
		for _, v := range col.Int64Values() {
			bld.Append(2 * v)
		}
		return bld.NewArray(), nil
	})
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func quiet(d *data.Dataset) *data.Dataset {
	return d.WithOptions(data.Progress(data.ProgressQuiet, nil))
}

func TestRangeMapFilterInOrder(t *testing.T) {
	ctx := testCtx(t)
	ds := quiet(data.Range(100_000, data.Parallelism(4))).Filter(fEven).Map(fSquare)
	got, err := data.TakeAll[squareRow](ctx, ds)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 50_000 {
		t.Fatalf("%d rows, want 50000", len(got))
	}
	for i, r := range got {
		if r.ID != int64(2*i) || r.Sq != r.ID*r.ID {
			t.Fatalf("row %d: %+v", i, r)
		}
	}
	st := ds.Stats().Ops
	if len(st) != 1 || st[0].Op != "Range->Filter(test.even)->Map(test.square)" || st[0].Rows != 50_000 || st[0].Tasks != 4 {
		t.Fatalf("stats (the reads, filter and map fused in one operator): %+v", st)
	}
}

func TestCountFromMetadataAndByRunning(t *testing.T) {
	ctx := testCtx(t)
	n, err := quiet(data.Range(12_345)).Map(fSquare).Count(ctx)
	if err != nil || n != 12_345 {
		t.Fatalf("Count: %d %v", n, err)
	}
	n, err = quiet(data.Range(1000)).FlatMap(fTwice).Filter(fEven).Count(ctx)
	if err != nil || n != 1000 {
		t.Fatalf("Count by running: %d %v", n, err)
	}
}

func TestLimitStopsEarly(t *testing.T) {
	ctx := testCtx(t)
	ds := quiet(data.Range(1_000_000, data.Parallelism(50))).MapBatches(fPlus1).Limit(10)
	got, err := data.TakeAll[idRow](ctx, ds)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 10 || got[0].ID != 1 || got[9].ID != 10 {
		t.Fatalf("Limit(10): %+v", got)
	}
	if st := ds.Stats().Ops; st[0].Tasks >= 50 {
		t.Fatalf("the limit did not stop the reads: %+v", st)
	}
}

func TestFromItemsAndSchemaOps(t *testing.T) {
	ctx := testCtx(t)
	items := make([]squareRow, 100)
	for i := range items {
		items[i] = squareRow{int64(i), int64(i * i)}
	}
	ds, err := data.FromItems(ctx, items)
	if err != nil {
		t.Fatal(err)
	}
	ds = quiet(ds)
	renamed := ds.RenameColumns(map[string]string{"sq": "square"}).AddColumn("twice", fDouble).DropColumns("id")
	schema, err := renamed.Schema(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if names := fieldNames(schema); !slices.Equal(names, []string{"square", "twice"}) {
		t.Fatalf("schema: %v", names)
	}
	type out struct {
		Square int64 `arrow:"square"`
		Twice  int64 `arrow:"twice"`
	}
	rows, err := data.Take[out](ctx, renamed, 5)
	if err != nil || len(rows) != 5 || rows[3] != (out{9, 6}) {
		t.Fatalf("Take: %+v %v", rows, err)
	}
	// The source dataset runs again unharmed (its blocks are not released by a run).
	if n, err := ds.SelectColumns("id").Count(ctx); err != nil || n != 100 {
		t.Fatalf("Count: %d %v", n, err)
	}
	all, err := data.TakeAll[squareRow](ctx, ds)
	if err != nil || len(all) != 100 || all[99] != items[99] {
		t.Fatalf("TakeAll after runs: %d %v", len(all), err)
	}
}

func fieldNames(s *arrow.Schema) []string {
	var out []string
	for _, f := range s.Fields() {
		out = append(out, f.Name)
	}
	return out
}

func TestUnionAndIterBatches(t *testing.T) {
	ctx := testCtx(t)
	ds := quiet(data.Range(300)).Union(data.Range(200))
	var sizes []int64
	total := int64(0)
	for b, err := range ds.IterBatches(ctx, data.IterBatchSize(128), data.DropLast()) {
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, b.NumRows())
		total += b.NumRows()
	}
	if total != 384 || len(sizes) != 3 {
		t.Fatalf("batches %v", sizes)
	}
	// Local shuffle keeps every row.
	seen := map[int64]int{}
	for r, err := range data.IterRows[idRow](ctx, quiet(data.Range(1000))) {
		if err != nil {
			t.Fatal(err)
		}
		seen[r.ID]++
	}
	if len(seen) != 1000 {
		t.Fatalf("%d distinct rows", len(seen))
	}
	shuffled := 0
	prev := int64(-1)
	n := 0
	for b, err := range quiet(data.Range(1000)).IterBatches(ctx, data.LocalShuffle(300, 7), data.IterBatchSize(100)) {
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range b.Column(0).(*array.Int64).Int64Values() {
			if v < prev {
				shuffled++
			}
			prev = v
			n++
		}
	}
	if n != 1000 || shuffled == 0 {
		t.Fatalf("local shuffle: %d rows, %d descents", n, shuffled)
	}
	// Over blocks in the store (read in place and released as the
	// iterator moves on), every row comes out once.
	const big = 300_000
	seenBig := make([]bool, big)
	count := 0
	for b, err := range quiet(data.Range(big, data.Parallelism(6))).IterBatches(ctx, data.LocalShuffle(40_000, 3), data.IterBatchSize(777)) {
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range b.Column(0).(*array.Int64).Int64Values() {
			if v < 0 || v >= big || seenBig[v] {
				t.Fatalf("local shuffle over stored blocks: row %d twice or out of range", v)
			}
			seenBig[v] = true
			count++
		}
	}
	if count != big {
		t.Fatalf("local shuffle over stored blocks: %d rows", count)
	}
}

func TestUDFErrors(t *testing.T) {
	ctx := testCtx(t)
	_, err := data.TakeAll[idRow](ctx, quiet(data.Range(1000)).Map(fFailAt))
	if !errors.Is(err, data.ErrUDF) {
		t.Fatalf("a failing map: %v", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "seventy-seven") || !strings.Contains(msg, "Map(test.failAt77)") || !strings.Contains(msg, "[77, 78)") {
		t.Fatalf("the error does not name the operator, row and cause: %v", err)
	}
	_, err = quiet(data.Range(10)).MapBatches(fPanic).Count(ctx)
	if !errors.Is(err, data.ErrUDF) || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("a panicking batch function: %v", err)
	}
	_, err = data.TakeAll[idRow](ctx, quiet(data.Range(10)).AddColumn("x", fShort))
	if !errors.Is(err, data.ErrBadBatch) {
		t.Fatalf("a column of the wrong length: %v", err)
	}
	_, err = quiet(data.Range(10)).SelectColumns("nope").Count(ctx)
	if !errors.Is(err, data.ErrNoColumn) || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("a missing column: %v", err)
	}
	// A function of the wrong kind, and one registered after Init.
	if _, err := quiet(data.Range(10)).Map(fEven).Count(ctx); !errors.Is(err, data.ErrWrongKind) {
		t.Fatalf("a filter passed to Map: %v", err)
	}
	late := data.MapFunc("test.late", func(r idRow) (idRow, error) { return r, nil })
	if _, err := quiet(data.Range(10)).Map(late).Count(ctx); !errors.Is(err, data.ErrNotRegistered) {
		t.Fatalf("a function registered after Init: %v", err)
	}
	// The cluster is unharmed.
	if n, err := quiet(data.Range(10)).Map(fSquare).Count(ctx); err != nil || n != 10 {
		t.Fatalf("after the failures: %d %v", n, err)
	}
}

type xyIn struct {
	ID []int64 `arrow:"id"`
}

type xyOut struct {
	ID []int64   `arrow:"id"`
	Y  []float64 `arrow:"y"`
}

var (
	fHalf = data.ColumnsFunc("test.half", func(_ context.Context, b xyIn) (xyOut, error) {
		y := make([]float64, len(b.ID))
		for i, v := range b.ID {
			y[i] = float64(v) / 2
		}
		return xyOut{ID: b.ID, Y: y}, nil
	})
	fRagged = data.ColumnsFunc("test.ragged", func(_ context.Context, b xyIn) (xyOut, error) {
		return xyOut{ID: b.ID, Y: []float64{1}}, nil
	})
)

func TestColumnsFunc(t *testing.T) {
	ctx := testCtx(t)
	type row struct {
		ID int64   `arrow:"id"`
		Y  float64 `arrow:"y"`
	}
	got, err := data.TakeAll[row](ctx, quiet(data.Range(5000)).MapBatches(fHalf, data.BatchSize(512)))
	if err != nil || len(got) != 5000 || got[4999] != (row{4999, 2499.5}) {
		t.Fatalf("%d rows, last %+v, %v", len(got), got[len(got)-1], err)
	}
	_, err = data.TakeAll[row](ctx, quiet(data.Range(10)).MapBatches(fRagged))
	if !errors.Is(err, data.ErrBadBatch) {
		t.Fatalf("columns of different lengths: %v", err)
	}
}

// splitConsume is run in a worker: it takes a DataIterator (passed as a
// value) and sums its ids, like a Train worker reading its share.
var tSplitConsume = rayo.Register[[2]int64]("test.splitConsume", func(ctx context.Context, it *data.DataIterator) ([2]int64, error) {
	var n, sum int64
	for r, err := range data.IterSplitRows[idRow](ctx, it) {
		if err != nil {
			return [2]int64{}, err
		}
		n++
		sum += r.ID
	}
	return [2]int64{n, sum}, nil
})

func TestSplitAndStreamingSplit(t *testing.T) {
	ctx := testCtx(t)
	parts, err := quiet(data.Range(1003, data.Parallelism(5))).Split(ctx, 3, true)
	if err != nil {
		t.Fatal(err)
	}
	var all []int64
	for _, p := range parts {
		rs, err := data.TakeAll[idRow](ctx, p)
		if err != nil || len(rs) != 334 {
			t.Fatalf("an equal split has %d rows: %v", len(rs), err)
		}
		for _, r := range rs {
			all = append(all, r.ID)
		}
	}
	if all[0] != 0 || all[len(all)-1] != 1001 {
		t.Fatalf("equal split rows: first %d last %d", all[0], all[len(all)-1])
	}

	for _, equal := range []bool{false, true} {
		its, err := quiet(data.Range(10_000, data.Parallelism(8))).Map(fSquare).StreamingSplit(ctx, 2, equal)
		if err != nil {
			t.Fatal(err)
		}
		for epoch := range 2 {
			a, b := tSplitConsume.Remote(its[0]), tSplitConsume.Remote(its[1])
			ra, err := a.Get(ctx)
			if err != nil {
				t.Fatal(err)
			}
			rb, err := b.Get(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if ra[0]+rb[0] != 10_000 || ra[1]+rb[1] != 10_000*9_999/2 {
				t.Fatalf("equal=%v epoch %d: the iterators got %v and %v", equal, epoch, ra, rb)
			}
			if equal && ra[0] != rb[0] {
				t.Fatalf("equal split epoch %d: %d and %d rows", epoch, ra[0], rb[0])
			}
		}
	}
}

// TestStreamingSplitEarlyExit: an iterator that leaves an epoch early
// does not hold up the next one.
func TestStreamingSplitEarlyExit(t *testing.T) {
	ctx := testCtx(t)
	its, err := quiet(data.Range(20_000, data.Parallelism(4))).StreamingSplit(ctx, 2, false)
	if err != nil {
		t.Fatal(err)
	}
	count := func(it *data.DataIterator, stopAfter int) (int, error) {
		n := 0
		for b, err := range it.IterBatches(ctx, data.IterBatchSize(1000)) {
			if err != nil {
				return n, err
			}
			n += int(b.NumRows())
			if stopAfter > 0 && n >= stopAfter {
				break
			}
		}
		return n, nil
	}
	type res struct {
		n   int
		err error
	}
	run := func(stop0 int) (int, int) {
		ch := make(chan res, 1)
		go func() { n, err := count(its[1], 0); ch <- res{n, err} }()
		n0, err := count(its[0], stop0)
		if err != nil {
			t.Fatal(err)
		}
		r := <-ch
		if r.err != nil {
			t.Fatal(r.err)
		}
		return n0, r.n
	}
	if n0, _ := run(1000); n0 != 1000 {
		t.Fatalf("the early exit took %d rows", n0)
	}
	if n0, n1 := run(0); n0+n1 != 20_000 {
		t.Fatalf("the next epoch: %d + %d rows", n0, n1)
	}
}

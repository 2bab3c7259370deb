package data_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/rayo-dev/rayo/data"
)

type kvRow struct {
	K int64   `arrow:"k"`
	V float64 `arrow:"v"`
}

var fTwiceV = data.ColumnFunc("test.twiceV", func(_ context.Context, b arrow.RecordBatch) (arrow.Array, error) {
	bld := array.NewInt64Builder(memory.DefaultAllocator)
	for _, v := range b.Column(b.Schema().FieldIndices("v")[0]).(*array.Float64).Float64Values() {
		bld.Append(int64(2 * v))
	}
	return bld.NewArray(), nil
})

var fToKV = data.MapFunc("test.toKV", func(r idRow) (kvRow, error) { return kvRow{K: r.ID % 7, V: float64(r.ID)}, nil })

// sizes: one task (a small input), and a full shuffle (many blocks above
// the target block size).
var sizes = []struct {
	name string
	opts []data.ExecOption
}{
	{"one task", nil},
	{"shuffled", []data.ExecOption{data.TargetBlockSize(16 << 10)}},
}

func TestSortAndRandomShuffle(t *testing.T) {
	ctx := testCtx(t)
	for _, sz := range sizes {
		ds := quiet(data.Range(20_000, data.Parallelism(6))).WithOptions(sz.opts...)
		shuffled := ds.RandomShuffle(42)
		a, err := data.TakeAll[idRow](ctx, shuffled)
		if err != nil {
			t.Fatal(err)
		}
		b, err := data.TakeAll[idRow](ctx, shuffled)
		if err != nil {
			t.Fatal(err)
		}
		if len(a) != 20_000 || !slices.Equal(a, b) {
			t.Fatalf("%s: %d rows, same seed same order: %v", sz.name, len(a), slices.Equal(a, b))
		}
		if slices.IsSortedFunc(a, func(x, y idRow) int { return int(x.ID - y.ID) }) {
			t.Fatalf("%s: the shuffle left the rows in order", sz.name)
		}
		sorted, err := data.TakeAll[idRow](ctx, shuffled.Sort(data.Desc("id")))
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range sorted {
			if r.ID != int64(19_999-i) {
				t.Fatalf("%s: sorted row %d is %d", sz.name, i, r.ID)
			}
		}
	}
}

func TestGroupByAggregate(t *testing.T) {
	ctx := testCtx(t)
	type out struct {
		K     int64   `arrow:"k"`
		Count int64   `arrow:"count()"`
		Sum   float64 `arrow:"sum(v)"`
		Mean  float64 `arrow:"mean(v)"`
		Min   float64 `arrow:"min(v)"`
		Max   float64 `arrow:"max(v)"`
	}
	const n = 10_000
	want := map[int64]*out{}
	for i := int64(0); i < n; i++ {
		o := want[i%7]
		if o == nil {
			o = &out{K: i % 7, Min: float64(i)}
			want[i%7] = o
		}
		o.Count++
		o.Sum += float64(i)
		o.Max = float64(i)
	}
	for _, sz := range sizes {
		ds := quiet(data.Range(n, data.Parallelism(5))).Map(fToKV).WithOptions(sz.opts...).
			GroupBy("k").Aggregate(data.Count(), data.Sum("v"), data.Mean("v"), data.Min("v"), data.Max("v"))
		got, err := data.TakeAll[out](ctx, ds)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 7 {
			t.Fatalf("%s: %d groups", sz.name, len(got))
		}
		for i, g := range got {
			w := want[int64(i)]
			w.Mean = w.Sum / float64(w.Count)
			if g != *w {
				t.Fatalf("%s: group %d: %+v, want %+v", sz.name, i, g, *w)
			}
		}
	}
	rec, err := quiet(data.Range(100)).Map(fToKV).Aggregate(ctx, data.Sum("v"), data.Count())
	if err != nil || rec.NumRows() != 1 || rec.Column(0).(*array.Float64).Value(0) != 4950 {
		t.Fatalf("global aggregate: %v %v", rec, err)
	}
	if _, err := quiet(data.Range(10)).GroupBy("nope").Count().Count(ctx); !errors.Is(err, data.ErrNoColumn) {
		t.Fatalf("a missing key column: %v", err)
	}
	u, err := quiet(data.Range(100)).Map(fToKV).Unique(ctx, "k")
	if err != nil || u.Len() != 7 {
		t.Fatalf("Unique: %v %v", u, err)
	}
}

var fGroupSize = data.BatchFunc("test.groupSize", func(_ context.Context, b arrow.RecordBatch) (arrow.RecordBatch, error) {
	k := array.NewInt64Builder(memory.DefaultAllocator)
	k.Append(b.Column(b.Schema().FieldIndices("k")[0]).(*array.Int64).Value(0))
	n := array.NewInt64Builder(memory.DefaultAllocator)
	n.Append(b.NumRows())
	schema := arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.PrimitiveTypes.Int64}, {Name: "n", Type: arrow.PrimitiveTypes.Int64}}, nil)
	return array.NewRecordBatch(schema, []arrow.Array{k.NewArray(), n.NewArray()}, 1), nil
})

func TestMapGroupsJoinZipRepartition(t *testing.T) {
	ctx := testCtx(t)
	type kn struct {
		K int64 `arrow:"k"`
		N int64 `arrow:"n"`
	}
	for _, sz := range sizes {
		got, err := data.TakeAll[kn](ctx, quiet(data.Range(700, data.Parallelism(4))).Map(fToKV).WithOptions(sz.opts...).GroupBy("k").MapGroups(fGroupSize))
		if err != nil || len(got) != 7 || got[3] != (kn{3, 100}) {
			t.Fatalf("%s: MapGroups %+v %v", sz.name, got, err)
		}
	}
	left := quiet(data.Range(50)).Map(fSquare)
	right := quiet(data.Range(100, data.Parallelism(3))).Map(fToKV).RenameColumns(map[string]string{"k": "mod"}).AddColumn("id", fTwiceV)
	type joined struct {
		ID  int64   `arrow:"id"`
		Sq  int64   `arrow:"sq"`
		Mod int64   `arrow:"mod"`
		V   float64 `arrow:"v"`
	}
	for _, sz := range sizes {
		rows, err := data.TakeAll[joined](ctx, left.WithOptions(sz.opts...).Join(right, "inner", "id").Sort(data.Asc("id")))
		if err != nil {
			t.Fatal(err)
		}
		// right's ids are 0, 2, ..., 198: the even ids below 50 match.
		if len(rows) != 25 || rows[1] != (joined{ID: 2, Sq: 4, Mod: 1, V: 1}) {
			t.Fatalf("%s: inner join: %d rows, %+v", sz.name, len(rows), rows[:2])
		}
		n, err := left.WithOptions(sz.opts...).Join(right, "left", "id").Count(ctx)
		if err != nil || n != 50 {
			t.Fatalf("%s: left join: %d %v", sz.name, n, err)
		}
	}
	type zipped struct {
		ID  int64 `arrow:"id"`
		Sq  int64 `arrow:"sq"`
		ID1 int64 `arrow:"id_1"`
	}
	z, err := data.TakeAll[zipped](ctx, left.Zip(quiet(data.Range(50, data.Parallelism(3)))))
	if err != nil || len(z) != 50 || z[49] != (zipped{49, 49 * 49, 49}) {
		t.Fatalf("zip: %d rows %v", len(z), err)
	}
	if _, err := left.Zip(quiet(data.Range(3))).Count(ctx); !errors.Is(err, data.ErrInvalidArgument) {
		t.Fatalf("zip of different lengths: %v", err)
	}
	for _, parts := range []int{3, 4} { // 4: each part is a whole input block, passed on as it is
		rp := quiet(data.Range(1000, data.Parallelism(4))).Repartition(parts)
		rows, err := data.TakeAll[idRow](ctx, rp)
		if err != nil || len(rows) != 1000 || rows[999].ID != 999 || rows[500].ID != 500 {
			t.Fatalf("repartition(%d): %d rows %v", parts, len(rows), err)
		}
		if st := rp.Stats().Ops; st[len(st)-1].Blocks != int64(parts) {
			t.Fatalf("repartition(%d): %+v", parts, st)
		}
	}
}

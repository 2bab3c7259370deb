package compute_test

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/rayo-dev/rayo/data/internal/compute"
	"github.com/vmihailenco/msgpack/v5"
)

var allAggs = []compute.Agg{
	{Kind: compute.AggCount},
	{Kind: compute.AggCount, Column: "vf"},
	{Kind: compute.AggCount, Column: "vi", Nulls: compute.NullsIgnore, Alias: "n"},
	{Kind: compute.AggSum, Column: "vi", Nulls: compute.NullsKeep, Alias: "strict_sum"},
	{Kind: compute.AggQuantile, Column: "vf", Q: 0.9, Nulls: compute.NullsKeep},
	{Kind: compute.AggUnique, Column: "ks"},
	{Kind: compute.AggUnique, Column: "ks", Nulls: compute.NullsKeep, Alias: "uks"},
	{Kind: compute.AggSum, Column: "vi"},
	{Kind: compute.AggSum, Column: "vf", Alias: "total"},
	{Kind: compute.AggMin, Column: "vi"},
	{Kind: compute.AggMax, Column: "vf"},
	{Kind: compute.AggMean, Column: "vi"},
	{Kind: compute.AggMean, Column: "vf"},
	{Kind: compute.AggStd, Column: "vf"},
	{Kind: compute.AggQuantile, Column: "vi", Q: 0.3},
	{Kind: compute.AggQuantile, Column: "vf", Q: 0.5, Alias: "median"},
	{Kind: compute.AggUnique, Column: "vs"},
	{Kind: compute.AggMin, Column: "kb"},
	{Kind: compute.AggMax, Column: "ks"},
	{Kind: compute.AggMin, Column: "ks", Nulls: compute.NullsKeep},
}

// refAggregate is the reference group-by: a map from the key tuple to the
// group's rows, then each aggregation computed plainly.
func refAggregate(rows [][]any, keyIdx []int, aggs []compute.Agg, col func(string) int) [][]any {
	type group struct {
		key  []any
		rows [][]any
	}
	groups := map[string]*group{}
	var order []*group
	for _, r := range rows {
		ks := keyString(r, keyIdx)
		g := groups[ks]
		if g == nil {
			g = &group{}
			for _, i := range keyIdx {
				g.key = append(g.key, r[i])
			}
			groups[ks] = g
			order = append(order, g)
		}
		g.rows = append(g.rows, r)
	}
	if len(keyIdx) == 0 && len(order) == 0 {
		order = append(order, &group{})
	}
	var out [][]any
	for _, g := range order {
		row := append([]any(nil), g.key...)
		for _, a := range aggs {
			var vals []any
			hasNull := false
			if a.Column != "" {
				c := col(a.Column)
				for _, r := range g.rows {
					if r[c] != nil || (a.Kind == compute.AggUnique && a.Nulls == compute.NullsKeep) {
						vals = append(vals, r[c])
					}
					hasNull = hasNull || r[c] == nil
				}
			}
			f := func(v any) float64 {
				switch x := v.(type) {
				case int64:
					return float64(x)
				case bool:
					if x {
						return 1
					}
					return 0
				}
				return v.(float64)
			}
			var res any
			switch a.Kind {
			case compute.AggCount:
				if a.Column == "" || a.Nulls != compute.NullsIgnore {
					res = int64(len(g.rows))
				} else {
					res = int64(len(vals))
				}
			case compute.AggSum:
				if len(vals) > 0 {
					if _, ok := vals[0].(int64); ok {
						var s int64
						for _, v := range vals {
							s += v.(int64)
						}
						res = s
					} else {
						var s float64
						for _, v := range vals {
							s += f(v)
						}
						res = s
					}
				}
			case compute.AggMin, compute.AggMax:
				for _, v := range vals {
					c := 0
					if res != nil {
						c = cmpAny(v, res)
					}
					if res == nil || (a.Kind == compute.AggMin && c < 0) || (a.Kind == compute.AggMax && c > 0) {
						res = v
					}
				}
			case compute.AggMean:
				if len(vals) > 0 {
					var s float64
					for _, v := range vals {
						s += f(v)
					}
					res = s / float64(len(vals))
				}
			case compute.AggStd:
				if len(vals) > 1 {
					var s float64
					for _, v := range vals {
						s += f(v)
					}
					m := s / float64(len(vals))
					var ss float64
					for _, v := range vals {
						ss += (f(v) - m) * (f(v) - m)
					}
					res = math.Sqrt(ss / float64(len(vals)-1))
				}
			case compute.AggQuantile:
				if len(vals) > 0 {
					fs := make([]float64, len(vals))
					for i, v := range vals {
						fs[i] = f(v)
					}
					slices.Sort(fs)
					pos := a.Q * float64(len(fs)-1)
					lo, hi := int(math.Floor(pos)), int(math.Ceil(pos))
					res = fs[lo] + (fs[hi]-fs[lo])*(pos-float64(lo))
				}
			case compute.AggUnique:
				var u []any
				for _, v := range vals {
					if !slices.Contains(u, v) {
						u = append(u, v)
					}
				}
				res = u
			}
			if hasNull && a.Nulls == compute.NullsKeep && a.Kind != compute.AggUnique && a.Kind != compute.AggCount {
				res = nil
			}
			row = append(row, res)
		}
		out = append(out, row)
	}
	idx := make([]int, len(keyIdx))
	for i := range idx {
		idx[i] = i
	}
	refSort(out, idx, make([]bool, len(idx)))
	return out
}

var keySets = [][]string{{"ki"}, {"ks"}, {"k32"}, {"kb"}, {"ki", "ks"}, {"kb", "k32", "ks"}, {}}

func TestAggregateMatchesReference(t *testing.T) {
	for _, rowsN := range []int{0, 1, 500} {
		rec := randRecord(t, rowsN, uint64(rowsN)+7, 12)
		rows := rowsOf(rec)
		col := func(n string) int { return colIndex(rec, n) }
		for _, keys := range keySets {
			var ki []int
			for _, k := range keys {
				ki = append(ki, col(k))
			}
			want := refAggregate(rows, ki, allAggs, col)
			got, err := compute.Aggregate([]arrow.Record{rec}, keys, allAggs)
			if err != nil {
				t.Fatalf("%v: %v", keys, err)
			}
			names := got.Schema().Fields()
			if len(names) != len(keys)+len(allAggs) {
				t.Fatalf("%v: %d columns", keys, len(names))
			}
			for i, a := range allAggs {
				if names[len(keys)+i].Name != a.Name() {
					t.Errorf("column %d is %q, want %q", len(keys)+i, names[len(keys)+i].Name, a.Name())
				}
			}
			sameRows(t, strings.Join(keys, ",")+" rows "+string(rune('0'+rowsN%10)), rowsOf(got), want)

			// Split in 1..5 ways, partial per piece, combined in two
			// rounds: the same result.
			for parts := 1; parts <= 5; parts++ {
				var partials []arrow.Record
				for p := range parts {
					lo, hi := int64(p*rowsN/parts), int64((p+1)*rowsN/parts)
					piece := rec.NewSlice(lo, hi)
					pr, err := compute.Partial(piece, keys, allAggs)
					if err != nil {
						t.Fatal(err)
					}
					partials = append(partials, pr)
				}
				mid := len(partials) / 2
				var combined []arrow.Record
				for _, half := range [][]arrow.Record{partials[:mid], partials[mid:]} {
					if len(half) == 0 {
						continue
					}
					c, err := compute.Combine(half, keys, allAggs)
					if err != nil {
						t.Fatal(err)
					}
					combined = append(combined, c)
				}
				all, err := compute.Combine(combined, keys, allAggs)
				if err != nil {
					t.Fatal(err)
				}
				fin, err := compute.Finalize(all, keys, allAggs)
				if err != nil {
					t.Fatal(err)
				}
				sameRows(t, strings.Join(keys, ",")+" split", rowsOf(fin), want)
			}
		}
	}
}

func TestAggregateManyRecords(t *testing.T) {
	a, b := randRecord(t, 300, 1, 20), randRecord(t, 200, 2, 20)
	whole, err := compute.Concat([]arrow.Record{a, b})
	if err != nil {
		t.Fatal(err)
	}
	for _, keys := range keySets {
		got, err := compute.Aggregate([]arrow.Record{a, b}, keys, allAggs)
		if err != nil {
			t.Fatal(err)
		}
		want, err := compute.Aggregate([]arrow.Record{whole}, keys, allAggs)
		if err != nil {
			t.Fatal(err)
		}
		sameRows(t, strings.Join(keys, ","), rowsOf(got), rowsOf(want))
	}
}

func TestAggMsgpack(t *testing.T) {
	b, err := msgpack.Marshal(allAggs)
	if err != nil {
		t.Fatal(err)
	}
	var back []compute.Agg
	if err := msgpack.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back, allAggs) {
		t.Fatalf("round trip: %v", back)
	}
}

func TestAggregateErrors(t *testing.T) {
	rec := randRecord(t, 10, 1, 3)
	cases := []struct {
		keys []string
		aggs []compute.Agg
		want error
		msg  string
	}{
		{[]string{"nope"}, nil, compute.ErrNoColumn, `key column "nope" (columns: id, ki, ks, k32, kb, vf, vi, vs)`},
		{nil, []compute.Agg{{Kind: compute.AggSum, Column: "zz"}}, compute.ErrNoColumn, `sum(zz) column "zz"`},
		{nil, []compute.Agg{{Kind: compute.AggSum, Column: "vs"}}, compute.ErrUnsupported, `sum(vs) column "vs": cannot aggregate a utf8 column`},
		{nil, []compute.Agg{{Kind: compute.AggStd, Column: "ks"}}, compute.ErrUnsupported, `std(ks)`},
		{nil, []compute.Agg{{Kind: "median", Column: "vf"}}, compute.ErrBadArgument, `unknown aggregation "median"`},
		{nil, []compute.Agg{{Kind: compute.AggQuantile, Column: "vf", Q: 1.5}}, compute.ErrBadArgument, `q 1.5`},
		{nil, []compute.Agg{{Kind: compute.AggSum}}, compute.ErrBadArgument, `sum needs a column`},
		{nil, []compute.Agg{{Kind: compute.AggSum, Column: "vf", Nulls: 9}}, compute.ErrBadArgument, `sum(vf): unknown null treatment 9`},
		{nil, []compute.Agg{{Kind: compute.AggSum, Column: "vf"}, {Kind: compute.AggMax, Column: "vf", Alias: "sum(vf)"}}, compute.ErrBadArgument, `two result columns named "sum(vf)"`},
	}
	for _, tc := range cases {
		_, err := compute.Aggregate([]arrow.Record{rec}, tc.keys, tc.aggs)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%v %v: %v, want %v with %q", tc.keys, tc.aggs, err, tc.want, tc.msg)
		}
	}
	if _, err := compute.Aggregate(nil, nil, allAggs); !errors.Is(err, compute.ErrBadArgument) {
		t.Errorf("no records: %v", err)
	}
	// A record that is not a partial.
	if _, err := compute.Combine([]arrow.Record{rec}, []string{"ki"}, allAggs[:1]); !errors.Is(err, compute.ErrNoColumn) {
		t.Errorf("combine of a non-partial: %v", err)
	}
	p, _ := compute.Partial(rec, []string{"ki"}, []compute.Agg{{Kind: compute.AggSum, Column: "vi"}})
	if _, err := compute.Finalize(p, []string{"ki"}, []compute.Agg{{Kind: compute.AggStd, Column: "vi"}}); !errors.Is(err, compute.ErrNoColumn) {
		t.Errorf("finalize with other aggs: %v", err)
	}
	other := randRecord(t, 3, 1, 3).NewSlice(0, 3)
	sch, _ := compute.Partial(other, []string{"ki"}, allAggs[:2])
	if _, err := compute.Aggregate([]arrow.Record{rec, sch}, []string{"ki"}, allAggs[:1]); !errors.Is(err, compute.ErrSchemaMismatch) {
		t.Errorf("records of two schemas: %v", err)
	}
}

// Sliced partials (offsets into their buffers) finalize and combine like
// whole ones.
func TestSlicedPartials(t *testing.T) {
	rec := randRecord(t, 400, 11, 25)
	for _, keys := range keySets[:6] {
		p, err := compute.Partial(rec, keys, allAggs)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := compute.Finalize(p, keys, allAggs)
		k := p.NumRows() / 3
		var fins []arrow.Record
		for _, s := range []arrow.Record{p.NewSlice(0, k), p.NewSlice(k, p.NumRows())} {
			f, err := compute.Finalize(s, keys, allAggs)
			if err != nil {
				t.Fatal(err)
			}
			fins = append(fins, f)
		}
		var sk []compute.SortKey
		for _, k := range keys {
			sk = append(sk, compute.SortKey{Column: k})
		}
		got, err := compute.Sort(fins, sk)
		if err != nil {
			t.Fatal(err)
		}
		sameRows(t, strings.Join(keys, ",")+" sliced finalize", rowsOf(got), rowsOf(want))
		c, err := compute.Combine([]arrow.Record{p.NewSlice(k, p.NumRows()), p.NewSlice(0, k)}, keys, allAggs)
		if err != nil {
			t.Fatal(err)
		}
		got, _ = compute.Finalize(c, keys, allAggs)
		// Unique lists follow first appearance, which the swapped
		// slices change: compare the other columns.
		gr, wr := rowsOf(got), rowsOf(want)
		for i := range gr {
			for c, a := range allAggs {
				if a.Kind == compute.AggUnique {
					gr[i][len(keys)+c], wr[i][len(keys)+c] = nil, nil
				}
			}
		}
		sameRows(t, strings.Join(keys, ",")+" sliced combine", gr, wr)
	}
}

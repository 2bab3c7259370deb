package compute_test

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/rayo-dev/rayo/data/internal/compute"
)

// benchData is an int64 key (min(rows, groups) distinct values) and a float64 value
// column, built once per shape.
type benchData struct {
	keys []int64
	vals []float64
	rec  arrow.Record
}

var (
	benchMu    sync.Mutex
	benchCache = map[[2]int]*benchData{}
)

func benchRecord(rows, groups int) *benchData {
	benchMu.Lock()
	defer benchMu.Unlock()
	if d := benchCache[[2]int{rows, groups}]; d != nil {
		return d
	}
	r := rand.New(rand.NewPCG(1, 2))
	d := &benchData{keys: make([]int64, rows), vals: make([]float64, rows)}
	for i := range rows { // every group present, in random order
		d.keys[i] = int64(i % groups)
		d.vals[i] = r.Float64()
	}
	r.Shuffle(rows, func(i, j int) { d.keys[i], d.keys[j] = d.keys[j], d.keys[i] })
	kb := array.NewInt64Builder(memory.DefaultAllocator)
	kb.AppendValues(d.keys, nil)
	vb := array.NewFloat64Builder(memory.DefaultAllocator)
	vb.AppendValues(d.vals, nil)
	k, v := kb.NewArray(), vb.NewArray()
	d.rec = array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "k", Type: k.DataType()}, {Name: "v", Type: v.DataType()}}, nil), []arrow.Array{k, v}, int64(rows))
	benchCache[[2]int{rows, groups}] = d
	return d
}

var benchAggs = []compute.Agg{
	{Kind: compute.AggSum, Column: "v"},
	{Kind: compute.AggMean, Column: "v"},
	{Kind: compute.AggCount},
}

func perRow(b *testing.B, rows int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(rows), "ns/row")
}

func benchAggregate(b *testing.B, rows, groups int) {
	d := benchRecord(rows, groups)
	b.ResetTimer()
	for range b.N {
		out, err := compute.Aggregate([]arrow.Record{d.rec}, []string{"k"}, benchAggs)
		if err != nil || out.NumRows() != int64(min(rows, groups)) {
			b.Fatal(err, out.NumRows())
		}
		out.Release()
	}
	perRow(b, rows)
}

// benchMapFloor is the floor: a plain Go map over the same slices
// (sum, count; the mean is sum/count per group at the end), the groups
// then sorted by key as Aggregate's are.
func benchMapFloor(b *testing.B, rows, groups int) {
	d := benchRecord(rows, groups)
	type acc struct {
		sum float64
		cnt int64
	}
	b.ResetTimer()
	for range b.N {
		m := map[int64]acc{}
		for i, k := range d.keys {
			a := m[k]
			a.sum += d.vals[i]
			a.cnt++
			m[k] = a
		}
		keys := make([]int64, 0, len(m))
		means := make([]float64, 0, len(m))
		for k, a := range m {
			keys = append(keys, k)
			means = append(means, a.sum/float64(a.cnt))
		}
		slices.Sort(keys)
		if len(keys) != min(rows, groups) || len(means) != len(keys) {
			b.Fatal(len(keys))
		}
	}
	perRow(b, rows)
}

func BenchmarkAggregate1Mx100(b *testing.B)      { benchAggregate(b, 1_000_000, 100) }
func BenchmarkAggregate1Mx100Floor(b *testing.B) { benchMapFloor(b, 1_000_000, 100) }
func BenchmarkAggregate10Mx1M(b *testing.B)      { benchAggregate(b, 10_000_000, 1_000_000) }
func BenchmarkAggregate10Mx1MFloor(b *testing.B) { benchMapFloor(b, 10_000_000, 1_000_000) }
func BenchmarkHashPartition1Mx100(b *testing.B)  { benchHashPartition(b, 1_000_000, 100) }
func BenchmarkSort10MInt64(b *testing.B)         { benchSort(b, "k") }
func BenchmarkSort10MFloat64(b *testing.B)       { benchSort(b, "v") }
func BenchmarkSort10MInt64Floor(b *testing.B)    { benchSortFloor(b, true) }
func BenchmarkSort10MFloat64Floor(b *testing.B)  { benchSortFloor(b, false) }
func BenchmarkShuffle10M(b *testing.B)           { benchShuffle(b) }

func benchHashPartition(b *testing.B, rows, groups int) {
	d := benchRecord(rows, groups)
	b.ResetTimer()
	for range b.N {
		parts, err := compute.HashPartition(d.rec, []string{"k"}, 16)
		if err != nil {
			b.Fatal(err)
		}
		for _, p := range parts {
			p.Release()
		}
	}
	perRow(b, rows)
}

// benchSort sorts 10M rows (the key and the other column) by one column.
func benchSort(b *testing.B, col string) {
	d := benchRecord(10_000_000, 1<<62)
	b.ResetTimer()
	for range b.N {
		out, err := compute.Sort([]arrow.Record{d.rec}, []compute.SortKey{{Column: col}})
		if err != nil {
			b.Fatal(err)
		}
		out.Release()
	}
	perRow(b, 10_000_000)
}

// benchSortFloor: slices.SortFunc on (key, row) pairs, then the same
// gather of both columns by the sorted rows.
func benchSortFloor(b *testing.B, ints bool) {
	d := benchRecord(10_000_000, 1<<62)
	type pair[T cmp.Ordered] struct {
		k   T
		idx int32
	}
	b.ResetTimer()
	for range b.N {
		var idx []int32
		if ints {
			ps := make([]pair[int64], len(d.keys))
			for i, k := range d.keys {
				ps[i] = pair[int64]{k, int32(i)}
			}
			slices.SortFunc(ps, func(a, b pair[int64]) int { return cmp.Or(cmp.Compare(a.k, b.k), cmp.Compare(a.idx, b.idx)) })
			idx = make([]int32, len(ps))
			for i, p := range ps {
				idx[i] = p.idx
			}
		} else {
			ps := make([]pair[float64], len(d.vals))
			for i, k := range d.vals {
				ps[i] = pair[float64]{k, int32(i)}
			}
			slices.SortFunc(ps, func(a, b pair[float64]) int { return cmp.Or(cmp.Compare(a.k, b.k), cmp.Compare(a.idx, b.idx)) })
			idx = make([]int32, len(ps))
			for i, p := range ps {
				idx[i] = p.idx
			}
		}
		ks, vs := make([]int64, len(idx)), make([]float64, len(idx))
		for i, j := range idx {
			ks[i], vs[i] = d.keys[j], d.vals[j]
		}
	}
	perRow(b, 10_000_000)
}

func benchShuffle(b *testing.B) {
	d := benchRecord(10_000_000, 1<<62)
	b.ResetTimer()
	for range b.N {
		out, err := compute.Shuffle(d.rec, uint64(b.N))
		if err != nil {
			b.Fatal(err)
		}
		out.Release()
	}
	perRow(b, 10_000_000)
}

package data

import (
	"context"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/rayo-dev/rayo/data/internal/compute"
)

// SortKey is a sort column and its direction (Ray's SortKey): nulls and
// NaNs sort last either way.
type SortKey = compute.SortKey

// Asc sorts by col, ascending.
func Asc(col string) SortKey { return SortKey{Column: col} }

// Desc sorts by col, descending.
func Desc(col string) SortKey { return SortKey{Column: col, Descending: true} }

// AggFn is an aggregation (Ray's AggregateFn): make one with Count, Sum,
// Min, Max, Mean, Std, Quantile or Unique; set Alias to name its result
// column (default Ray's "sum(x)" style).
type AggFn = compute.Agg

// Count counts rows (Ray's Count()); its column is "count()".
func Count() AggFn { return AggFn{Kind: compute.AggCount} }

// Sum adds up col (Ray's Sum).
func Sum(col string) AggFn { return AggFn{Kind: compute.AggSum, Column: col} }

// Min is col's smallest value (Ray's Min).
func Min(col string) AggFn { return AggFn{Kind: compute.AggMin, Column: col} }

// Max is col's largest value (Ray's Max).
func Max(col string) AggFn { return AggFn{Kind: compute.AggMax, Column: col} }

// Mean is col's mean (Ray's Mean).
func Mean(col string) AggFn { return AggFn{Kind: compute.AggMean, Column: col} }

// Std is col's sample standard deviation, ddof=1 (Ray's Std).
func Std(col string) AggFn { return AggFn{Kind: compute.AggStd, Column: col} }

// Quantile is col's q-quantile, with linear interpolation (Ray's
// Quantile).
func Quantile(col string, q float64) AggFn {
	return AggFn{Kind: compute.AggQuantile, Column: col, Q: q}
}

// Unique is the list of col's distinct values (Ray's Unique).
func Unique(col string) AggFn { return AggFn{Kind: compute.AggUnique, Column: col} }

// barrier adds an all-to-all operator.
func (d *Dataset) barrier(label string, b *barrierSpec) *Dataset {
	return d.then(&node{Kind: nodeBarrier, Label: label, Barrier: b})
}

// RandomShuffle shuffles the rows (Ray's random_shuffle); the same seed
// gives the same order for the same input blocks.
func (d *Dataset) RandomShuffle(seed uint64) *Dataset {
	return d.barrier("RandomShuffle", &barrierSpec{Kind: "shuffle", Seed: seed})
}

// Sort sorts the rows by keys (Ray's sort), stably: each output block is
// sorted and the blocks come in order.
func (d *Dataset) Sort(keys ...SortKey) *Dataset {
	if len(keys) == 0 {
		return failed(errorf("Sort: no keys"))
	}
	names := make([]string, len(keys))
	for i, k := range keys {
		if k.Column == "" {
			return failed(errorf("Sort: an empty column name"))
		}
		names[i] = k.Column
		if k.Descending {
			names[i] += " desc"
		}
	}
	return d.barrier("Sort("+strings.Join(names, ", ")+")", &barrierSpec{Kind: "sort", SortKeys: keys})
}

// Repartition cuts the rows into n blocks of nearly equal rows, in order
// (Ray's repartition with shuffle=False).
func (d *Dataset) Repartition(n int) *Dataset {
	if n < 1 {
		return failed(errorf("Repartition(%d): n must be 1 or more", n))
	}
	return d.barrier(fmt.Sprintf("Repartition(%d)", n), &barrierSpec{Kind: "repartition", N: n})
}

// GroupedData is a dataset grouped by key columns (Ray's GroupedData).
type GroupedData struct {
	d    *Dataset
	keys []string
}

// GroupBy groups the rows by the values of keys (Ray's groupby).
func (d *Dataset) GroupBy(keys ...string) *GroupedData { return &GroupedData{d: d, keys: keys} }

// Aggregate computes aggs per group (Ray's GroupedData.aggregate): one
// row per group, the key columns then the aggregates, sorted by key. A
// small input is aggregated in one task; a large one in a partial
// aggregation per block, a range shuffle of the partials by key, and a
// combine per range.
func (g *GroupedData) Aggregate(aggs ...AggFn) *Dataset {
	if len(aggs) == 0 {
		return failed(errorf("Aggregate: no aggregations"))
	}
	if len(g.keys) == 0 {
		return failed(errorf("GroupBy: no key columns (Dataset.Aggregate aggregates without groups)"))
	}
	names := make([]string, len(aggs))
	for i, a := range aggs {
		names[i] = a.Name()
	}
	return g.d.barrier(fmt.Sprintf("GroupBy(%s).Aggregate(%s)", strings.Join(g.keys, ", "), strings.Join(names, ", ")),
		&barrierSpec{Kind: "aggregate", Keys: g.keys, Aggs: aggs})
}

// Count is Aggregate(Count()) (Ray's GroupedData.count).
func (g *GroupedData) Count() *Dataset { return g.Aggregate(Count()) }

// MapGroups calls fn once per group with the group's rows as one batch
// (Ray's map_groups); fn comes from BatchFunc or ColumnsFunc.
func (g *GroupedData) MapGroups(fn *Fn) *Dataset {
	switch {
	case len(g.keys) == 0:
		return failed(errorf("MapGroups: no key columns"))
	case fn == nil:
		return failed(errorf("MapGroups: a nil function"))
	case fn.err != nil:
		return failed(fn.err)
	case fn.kind != kindBatch:
		return failed(fmt.Errorf("%w: MapGroups takes %v, %q is %v", ErrWrongKind, kindBatch, fn.name, fn.kind))
	}
	return g.d.barrier(fmt.Sprintf("GroupBy(%s).MapGroups(%s)", strings.Join(g.keys, ", "), fn.name),
		&barrierSpec{Kind: "mapgroups", Keys: g.keys, Fn: fn.name})
}

// Aggregate computes aggs over every row (Ray's Dataset.aggregate) and
// returns them as a one-row record.
func (d *Dataset) Aggregate(ctx context.Context, aggs ...AggFn) (arrow.RecordBatch, error) {
	if len(aggs) == 0 {
		return nil, errorf("Aggregate: no aggregations")
	}
	return d.barrier("Aggregate", &barrierSpec{Kind: "aggregate", Aggs: aggs}).TakeBatch(ctx, 1)
}

// Join joins the rows of d and other whose on columns are equal (Ray's
// join): how is "inner", "left", "right" or "outer". The result has the
// key columns once, then d's other columns, then other's (a name taken
// gets the suffix "_1").
func (d *Dataset) Join(other *Dataset, how string, on ...string) *Dataset {
	return d.JoinOn(other, how, on, on)
}

// JoinOn is Join with different key column names on each side (Ray's
// on and right_on).
func (d *Dataset) JoinOn(other *Dataset, how string, leftOn, rightOn []string) *Dataset {
	switch {
	case other == nil:
		return failed(errorf("Join: a nil dataset"))
	case other.err != nil:
		return other
	case len(leftOn) == 0 || len(leftOn) != len(rightOn):
		return failed(errorf("Join: %d left keys and %d right keys", len(leftOn), len(rightOn)))
	}
	switch how {
	case "inner", "left", "right", "outer":
	default:
		return failed(errorf("Join: how %q: want inner, left, right or outer", how))
	}
	return d.barrier(fmt.Sprintf("Join(%s, %s)", how, strings.Join(leftOn, ", ")),
		&barrierSpec{Kind: "join", Keys: leftOn, RightKeys: rightOn, How: how, Other: other.n, OtherExec: other.exec})
}

// Zip puts other's columns beside d's, row by row (Ray's zip); both must
// have the same number of rows. A column name taken gets the suffix "_1".
func (d *Dataset) Zip(other *Dataset) *Dataset {
	if other == nil {
		return failed(errorf("Zip: a nil dataset"))
	}
	if other.err != nil {
		return other
	}
	return d.barrier("Zip", &barrierSpec{Kind: "zip", Other: other.n, OtherExec: other.exec})
}

// Unique returns the distinct values of column, sorted (Ray's unique).
func (d *Dataset) Unique(ctx context.Context, column string) (arrow.Array, error) {
	rec, err := d.GroupBy(column).Count().SelectColumns(column).TakeBatch(ctx, 1<<62)
	if err != nil || rec == nil {
		return nil, err
	}
	return rec.Column(0), nil
}

package compute

import (
	"fmt"
	"math"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// AggKind names an aggregation, as Ray Data's AggregateFn classes do.
type AggKind string

// The aggregations (ray.data.aggregate's Count, Sum, Min, Max, Mean, Std,
// Quantile, Unique). Nulls are skipped (Ray's ignore_nulls=True); a group
// with no value gets a null result (count: 0).
const (
	AggCount    AggKind = "count"    // rows (Column "") or non-null values
	AggSum      AggKind = "sum"      // int64 for integers and bools, uint64 for uint64, float64 for floats
	AggMin      AggKind = "min"      // numbers as AggSum; strings, binaries, bools, dates, times, timestamps, durations keep their type
	AggMax      AggKind = "max"      // as AggMin
	AggMean     AggKind = "mean"     // float64
	AggStd      AggKind = "std"      // float64, sample standard deviation (ddof=1, as Ray and pandas); null under 2 values
	AggQuantile AggKind = "quantile" // float64, numpy's linear interpolation at Agg.Q
	AggUnique   AggKind = "unique"   // list of the distinct values, in order of first appearance
)

// Agg is one aggregation of a group-by: Ray Data's AggregateFn (Sum(on=
// "x", alias_name=...)). It is msgpack-encodable, to travel to tasks.
type Agg struct {
	Kind   AggKind `msgpack:"kind"`
	Column string  `msgpack:"column,omitempty"` // the column aggregated; "" only for Count (rows)
	Alias  string  `msgpack:"alias,omitempty"`  // the result column's name; default Name()
	Q      float64 `msgpack:"q,omitempty"`      // Quantile's q in [0, 1] (Ray's default is 0.5; here 0 means 0)
	Nulls  Nulls   `msgpack:"nulls,omitempty"`  // Ray's ignore_nulls; the zero value is Ray's default for the kind
}

// Nulls is an aggregation's treatment of null values: Ray's ignore_nulls.
type Nulls uint8

const (
	// NullsDefault is Ray's default: Count counts nulls (ignore_nulls=
	// False); every other aggregation skips them (ignore_nulls=True).
	NullsDefault Nulls = iota
	// NullsIgnore skips nulls (Count counts the non-null values, as
	// pandas' count).
	NullsIgnore
	// NullsKeep: a group with a null gets a null result (Sum, Min, Max,
	// Mean, Std, Quantile) or a null in its list (Unique); Count counts
	// them, as by default.
	NullsKeep
)

// keepNulls reports whether a null value makes a's result null.
func (a Agg) keepNulls() bool {
	if a.Nulls != NullsKeep {
		return false
	}
	switch a.Kind {
	case AggSum, AggMin, AggMax, AggMean, AggStd, AggQuantile:
		return true
	}
	return false
}

// countsRows reports whether a is a Count that counts every row.
func (a Agg) countsRows() bool {
	return a.Kind == AggCount && (a.Column == "" || a.Nulls != NullsIgnore)
}

// Name is the result column's name: Alias, or Ray's "count()", "sum(x)",
// "mean(x)", "std(x)", "min(x)", "max(x)", "quantile(x)", "unique(x)".
func (a Agg) Name() string {
	if a.Alias != "" {
		return a.Alias
	}
	return string(a.Kind) + "(" + a.Column + ")"
}

func (a Agg) check() error {
	switch a.Kind {
	case AggCount:
		if a.Nulls > NullsKeep {
			return badArg("%s: unknown null treatment %d", a.Name(), a.Nulls)
		}
		return nil
	case AggSum, AggMin, AggMax, AggMean, AggStd, AggUnique:
	case AggQuantile:
		if !(a.Q >= 0 && a.Q <= 1) {
			return badArg("%s: q %v outside [0, 1]", a.Name(), a.Q)
		}
	default:
		return badArg("unknown aggregation %q", a.Kind)
	}
	if a.Column == "" {
		return badArg("%s needs a column", a.Kind)
	}
	if a.Nulls > NullsKeep {
		return badArg("%s: unknown null treatment %d", a.Name(), a.Nulls)
	}
	return nil
}

// stateNames are the partial record's columns for aggregation a.
func (a Agg) stateNames() []string {
	n := a.Name() + "#"
	if a.keepNulls() {
		b := a
		b.Nulls = NullsDefault
		return append(b.stateNames(), n+"nulls")
	}
	switch a.Kind {
	case AggCount:
		return []string{n + "count"}
	case AggSum, AggMean:
		return []string{n + "count", n + "sum"}
	case AggMin, AggMax:
		return []string{n + "count", n + "value"}
	case AggStd:
		return []string{n + "count", n + "mean", n + "m2"}
	}
	return []string{n + "values"}
}

func checkAggs(keys []string, aggs []Agg) error {
	seen := map[string]bool{}
	for _, k := range keys {
		seen[k] = true
	}
	for _, a := range aggs {
		if err := a.check(); err != nil {
			return err
		}
		if seen[a.Name()] {
			return badArg("two result columns named %q", a.Name())
		}
		seen[a.Name()] = true
	}
	return nil
}

// newAccum makes a's accumulator for values of type t (raw input) or,
// when fromState, for a partial whose first state column after the count
// has type t.
func newAccum(a Agg, t arrow.DataType, fromState bool) (accum, error) {
	if a.keepNulls() {
		b := a
		b.Nulls = NullsDefault
		inner, err := newAccum(b, t, fromState)
		if err != nil {
			return nil, err
		}
		return &nullsAcc{inner: inner}, nil
	}
	unsupported := func() error {
		return &ColumnError{Err: ErrUnsupported, Column: a.Column, Op: a.Name(), Detail: "cannot aggregate a " + t.String() + " column"}
	}
	switch a.Kind {
	case AggCount:
		return &countAcc{}, nil
	case AggUnique:
		if fromState {
			l, ok := t.(*arrow.ListType)
			if !ok {
				return nil, unsupported()
			}
			return &listAcc{unique: true, keepNulls: a.Nulls == NullsKeep, elem: l.Elem()}, nil
		}
		if !isKeyType(t) {
			return nil, unsupported()
		}
		return &listAcc{unique: true, keepNulls: a.Nulls == NullsKeep, elem: t}, nil
	case AggQuantile:
		if fromState {
			if l, ok := t.(*arrow.ListType); !ok || l.Elem().ID() != arrow.FLOAT64 {
				return nil, unsupported()
			}
		} else if numKindOf(t) == numNone {
			return nil, unsupported()
		}
		return &listAcc{elem: arrow.PrimitiveTypes.Float64}, nil
	}
	k := numKindOf(t)
	if (a.Kind == AggMin || a.Kind == AggMax) && (t.ID() == arrow.BOOL || (k == numNone && isKeyType(t))) {
		return &minMaxAnyAcc{max: a.Kind == AggMax, t: t}, nil
	}
	if k == numNone {
		return nil, unsupported()
	}
	switch a.Kind {
	case AggMean:
		return &sumAcc[float64]{}, nil
	case AggStd:
		return &stdAcc{}, nil
	case AggSum:
		switch k {
		case numInt:
			return &sumAcc[int64]{}, nil
		case numUint:
			return &sumAcc[uint64]{}, nil
		}
		return &sumAcc[float64]{}, nil
	}
	isMax := a.Kind == AggMax
	switch k {
	case numInt:
		return &minMaxAcc[int64]{max: isMax}, nil
	case numUint:
		return &minMaxAcc[uint64]{max: isMax}, nil
	}
	return &minMaxAcc[float64]{max: isMax}, nil
}

// groupBy runs the grouper over recs and folds each into the
// accumulators: raw values (Partial) or partial states (Combine). It
// returns the partial record: the key columns, one row per group in order
// of first appearance, then the state columns.
func groupBy(recs []arrow.Record, keys []string, aggs []Agg, fromState bool) (arrow.Record, error) {
	if len(recs) == 0 {
		return nil, badArg("aggregate of no records")
	}
	if err := checkAggs(keys, aggs); err != nil {
		return nil, err
	}
	schema := recs[0].Schema()
	for _, r := range recs[1:] {
		if err := sameSchema(schema, r.Schema()); err != nil {
			return nil, err
		}
	}
	k0, err := NewKeys(recs[0], keys)
	if err != nil {
		return nil, err
	}
	// The accumulators, and where each reads its columns.
	accs := make([]accum, len(aggs))
	dup := make([]bool, len(aggs)) // accs[i] is an earlier aggregation's
	shared := map[string]int{}
	cols := make([][]int, len(aggs))
	for i, a := range aggs {
		names := []string{a.Column}
		if fromState {
			names = a.stateNames()
		} else if a.Kind == AggCount && a.Column == "" {
			names = nil
		}
		for _, n := range names {
			_, c, err := column(recs[0], n, a.Name())
			if err != nil {
				return nil, err
			}
			cols[i] = append(cols[i], c)
		}
		var t arrow.DataType = arrow.Null
		if len(cols[i]) > 0 {
			list := a.Kind == AggQuantile || a.Kind == AggUnique
			if list {
				t = schema.Field(cols[i][0]).Type
			} else {
				t = schema.Field(cols[i][min(1, len(cols[i])-1)]).Type
			}
			if fromState && !list && len(cols[i]) > 1 && schema.Field(cols[i][0]).Type.ID() != arrow.INT64 {
				return nil, &ColumnError{Err: ErrSchemaMismatch, Column: names[0], Op: a.Name(), Detail: "a partial's count is not int64"}
			}
		}
		// Aggregations with the same state share one accumulator
		// (sum and mean of one float column, counts of rows).
		share := ""
		switch {
		case a.keepNulls():
		case a.Kind == AggMean || (a.Kind == AggSum && numKindOf(t) == numFloat):
			share = "sum\x00" + a.Column
		case a.countsRows():
			share = "rows"
		}
		if j, ok := shared[share]; ok && share != "" {
			accs[i], dup[i] = accs[j], true
			continue
		}
		shared[share] = i
		if accs[i], err = newAccum(a, t, fromState); err != nil {
			return nil, err
		}
	}
	hint := 0
	if fromState {
		for _, r := range recs {
			hint = max(hint, int(r.NumRows()))
		}
	}
	g := newGrouper(k0.enc == nil && len(keys) == 1, hint)
	keyPieces := make([][]arrow.Array, len(keys))
	defer func() {
		for _, p := range keyPieces {
			releaseAll(p)
		}
	}()
	var gids []int32
	for ri, r := range recs {
		k := k0
		if ri > 0 {
			if k, err = NewKeys(r, keys); err != nil {
				return nil, err
			}
		}
		gids = grow(gids[:0], int(r.NumRows()))
		newRows := g.group(k, gids)
		if len(newRows) > 0 && len(keys) > 0 {
			ia := int32Array(newRows, nil)
			for j, c := range k.cols {
				out, err := take(c, ia)
				if err != nil {
					ia.Release()
					return nil, err
				}
				keyPieces[j] = append(keyPieces[j], out)
			}
			ia.Release()
		}
		for i, acc := range accs {
			if dup[i] {
				continue
			}
			a := aggs[i]
			acc.resize(g.n)
			switch {
			case fromState:
				st := make([]arrow.Array, len(cols[i]))
				for j, c := range cols[i] {
					st[j] = r.Column(c)
				}
				acc.merge(st, gids)
			case len(cols[i]) == 0 || a.countsRows():
				acc.update(nil, gids)
			default:
				acc.update(r.Column(cols[i][0]), gids)
			}
		}
	}
	if len(keys) == 0 && g.n == 0 { // a global aggregation has one row, even of nothing
		g.n = 1
		for _, acc := range accs { // a shared one twice: harmless
			acc.resize(1)
		}
	}
	var fields []arrow.Field
	var out []arrow.Array
	defer func() { releaseAll(out) }()
	for j, name := range keys {
		f := schema.Field(schema.FieldIndices(name)[0])
		f.Nullable = true
		fields = append(fields, f)
		if len(keyPieces[j]) == 0 {
			out = append(out, array.MakeArrayOfNull(mem, f.Type, 0))
			continue
		}
		col, err := concatArrays(keyPieces[j])
		if err != nil {
			return nil, err
		}
		out = append(out, col)
	}
	states := map[accum][]arrow.Array{}
	for i, a := range aggs {
		st, ok := states[accs[i]]
		if ok {
			for _, c := range st {
				c.Retain()
			}
		} else {
			st = accs[i].states()
			states[accs[i]] = st
		}
		for j, name := range a.stateNames() {
			fields = append(fields, arrow.Field{Name: name, Type: st[j].DataType(), Nullable: true})
		}
		out = append(out, st...)
	}
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), out, int64(g.n)), nil
}

// Partial is a group-by's map side (Ray Data's partial aggregation in a
// shuffle's map task): one row per group of rec by keys, in order of
// first appearance, holding the key columns and each aggregation's state
// ("<name>#count", "#sum", "#mean", "#m2", "#value", "#values").
func Partial(rec arrow.Record, keys []string, aggs []Agg) (_ arrow.Record, err error) {
	defer guard(&err)
	return groupBy([]arrow.Record{rec}, keys, aggs, false)
}

// Combine merges partials (of Partial or Combine, same keys and aggs)
// into one partial with one row per group: the reduce side's first step
// (Ray Data's AggregateFnV2.combine over the blocks of one partition).
func Combine(partials []arrow.Record, keys []string, aggs []Agg) (_ arrow.Record, err error) {
	defer guard(&err)
	return groupBy(partials, keys, aggs, true)
}

// Aggregate is Partial, Combine and Finalize in one pass over recs: the
// small-input path, one task instead of a shuffle (Ray Data's
// GroupedData.aggregate / Dataset.aggregate when keys is empty, which
// gives one row).
func Aggregate(recs []arrow.Record, keys []string, aggs []Agg) (_ arrow.Record, err error) {
	defer guard(&err)
	p, err := groupBy(recs, keys, aggs, false)
	if err != nil {
		return nil, err
	}
	defer p.Release()
	return finalize(p, keys, aggs)
}

// Finalize turns a partial (of Partial or Combine) into the result: the
// key columns, then one column per aggregation named Agg.Name(), one row
// per group, sorted by key (ascending, nulls last), as Ray Data sorts a
// group-by's output.
func Finalize(partial arrow.Record, keys []string, aggs []Agg) (_ arrow.Record, err error) {
	defer guard(&err)
	if err := checkAggs(keys, aggs); err != nil {
		return nil, err
	}
	return finalize(partial, keys, aggs)
}

func finalize(p arrow.Record, keys []string, aggs []Agg) (arrow.Record, error) {
	var fields []arrow.Field
	var out []arrow.Array
	defer func() { releaseAll(out) }()
	for _, name := range keys {
		c, i, err := column(p, name, "group key")
		if err != nil {
			return nil, err
		}
		c.Retain()
		out = append(out, c)
		fields = append(fields, p.Schema().Field(i))
	}
	n := int(p.NumRows())
	for _, a := range aggs {
		var st []arrow.Array
		for _, name := range a.stateNames() {
			c, _, err := column(p, name, a.Name())
			if err != nil {
				return nil, err
			}
			st = append(st, c)
		}
		res, err := final(a, st, n)
		if err != nil {
			return nil, err
		}
		out = append(out, res)
		fields = append(fields, arrow.Field{Name: a.Name(), Type: res.DataType(), Nullable: true})
	}
	rec := array.NewRecordBatch(arrow.NewSchema(fields, nil), out, int64(n))
	defer rec.Release()
	// The gather also copies the columns that still share the partial's
	// buffers (keys, counts, unique lists), so that the result outlives
	// the partial, which may be a block read in place from the store.
	perm := make([]int32, n)
	for i := range perm {
		perm[i] = int32(i)
	}
	if len(keys) > 0 && n > 1 {
		sk := make([]SortKey, len(keys))
		for i, k := range keys {
			sk[i] = SortKey{Column: k}
		}
		var err error
		if perm, err = sortIndices(rec, sk); err != nil {
			return nil, err
		}
	}
	return takeRecord(rec, perm)
}

// final computes a's result column from its state columns.
func final(a Agg, st []arrow.Array, n int) (arrow.Array, error) {
	if a.keepNulls() {
		nulls, ok := st[len(st)-1].(*array.Int64)
		if !ok {
			return nil, &ColumnError{Err: ErrSchemaMismatch, Column: a.stateNames()[len(st)-1], Op: a.Name(), Detail: "not a partial of this aggregation"}
		}
		b := a
		b.Nulls = NullsDefault
		res, err := final(b, st[:len(st)-1], n)
		if err != nil {
			return nil, err
		}
		defer res.Release()
		valid := make([]bool, n)
		for i := range valid {
			valid[i] = res.IsValid(i) && nulls.Value(i) == 0
		}
		// res is fresh (offset 0): give it the combined validity
		bm, nn := bitmap(valid)
		bufs := slices.Clone(res.Data().Buffers())
		bufs[0] = bm
		data := array.NewData(res.DataType(), n, bufs, res.Data().Children(), nn, 0)
		defer data.Release()
		return array.MakeFromData(data), nil
	}
	mismatch := func() error {
		return &ColumnError{Err: ErrSchemaMismatch, Column: a.stateNames()[0], Op: a.Name(), Detail: "not a partial of this aggregation"}
	}
	cntArr, ok := st[0].(*array.Int64)
	if a.Kind == AggCount {
		if !ok {
			return nil, mismatch()
		}
		cntArr.Retain()
		return cntArr, nil
	}
	if a.Kind == AggQuantile || a.Kind == AggUnique {
		l, ok := st[0].(*array.List)
		if !ok {
			return nil, mismatch()
		}
		if a.Kind == AggUnique {
			l.Retain()
			return l, nil
		}
		vals, ok := l.ListValues().(*array.Float64)
		if !ok {
			return nil, mismatch()
		}
		off := listOffsets(l)
		res, valid := make([]float64, n), make([]bool, n)
		var buf []float64
		for i := range n {
			if off[i+1] == off[i] {
				continue
			}
			buf = append(buf[:0], vals.Float64Values()[off[i]:off[i+1]]...)
			slices.Sort(buf)
			res[i], valid[i] = quantile(buf, a.Q), true
		}
		return numArray(res, valid), nil
	}
	if !ok {
		return nil, mismatch()
	}
	cnt := cntArr.Int64Values()
	valid := make([]bool, n)
	for i, c := range cnt {
		valid[i] = c > 0
	}
	switch a.Kind {
	case AggSum, AggMin, AggMax:
		if numKindOf(st[1].DataType()) == numNone || st[1].DataType().ID() == arrow.BOOL {
			if a.Kind == AggSum || !isKeyType(st[1].DataType()) {
				return nil, mismatch()
			}
			// nulls where no value already; a fresh copy at offset 0
			// (keepNulls replaces its validity)
			idx := make([]int32, n)
			for i := range idx {
				idx[i] = int32(i)
			}
			ia := int32Array(idx, nil)
			defer ia.Release()
			return take(st[1], ia)
		}
		switch v := st[1].(type) {
		case *array.Int64:
			return numArray(slices.Clone(v.Int64Values()), valid), nil
		case *array.Uint64:
			return numArray(slices.Clone(v.Uint64Values()), valid), nil
		case *array.Float64:
			return numArray(slices.Clone(v.Float64Values()), valid), nil
		}
	case AggMean:
		if s, ok := st[1].(*array.Float64); ok {
			res := make([]float64, n)
			for i, c := range cnt {
				if c > 0 {
					res[i] = s.Value(i) / float64(c)
				}
			}
			return numArray(res, valid), nil
		}
	case AggStd:
		if m2, ok := st[2].(*array.Float64); ok {
			res := make([]float64, n)
			for i, c := range cnt {
				valid[i] = c > 1
				if c > 1 {
					res[i] = math.Sqrt(m2.Value(i) / float64(c-1))
				}
			}
			return numArray(res, valid), nil
		}
	}
	return nil, mismatch()
}

// guard turns a panic in a kernel (a bug, or an input Arrow itself
// rejects) into an error, so that none escapes into the user's program.
func guard(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("data: compute kernel failed: %v", r)
	}
}

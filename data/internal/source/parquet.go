package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// openParquet opens a Parquet file's footer through arrow-go.
func openParquet(path string, props pqarrow.ArrowReadProperties) (pf *file.Reader, fr *pqarrow.FileReader, err error) {
	defer recovered(path, &err)
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, wrapErr(ErrNotFound, path, err, "")
		}
		return nil, nil, wrapErr(ErrNotFound, path, err, "cannot stat")
	}
	pf, err = file.OpenParquetFile(path, false)
	if err != nil {
		return nil, nil, wrapErr(ErrCorrupt, path, err, "not a Parquet file")
	}
	fr, err = pqarrow.NewFileReader(pf, props, memory.DefaultAllocator)
	if err != nil {
		pf.Close()
		return nil, nil, wrapErr(ErrCorrupt, path, err, "Parquet schema")
	}
	return pf, fr, nil
}

// planParquet lists one unit per row group that may hold a passing row.
func planParquet(ctx context.Context, files []fileInfo, parts [][]KV, opts Options) ([]Unit, *arrow.Schema, error) {
	var (
		units     []Unit
		out       *arrow.Schema
		first     *arrow.Schema // the first file's schema, restricted to what the read touches
		firstPath string
	)
	for i, f := range files {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		us, sc, fsc, err := planParquetFile(ctx, f, parts[i], opts)
		if err != nil {
			return nil, nil, err
		}
		if i == 0 {
			out, first, firstPath = sc, fsc, f.path
		} else if err := sameSchema(firstPath, first, f.path, fsc); err != nil {
			return nil, nil, err
		}
		units = append(units, us...)
	}
	return units, out, nil
}

// planParquetFile plans one file: its units, Read's output schema, and
// the file's schema restricted to the columns the read touches.
func planParquetFile(ctx context.Context, f fileInfo, part []KV, opts Options) (units []Unit, out, touched *arrow.Schema, err error) {
	defer recovered(f.path, &err)
	pf, fr, err := openParquet(f.path, pqarrow.ArrowReadProperties{})
	if err != nil {
		return nil, nil, nil, err
	}
	defer pf.Close()
	sc, err := fr.Schema()
	if err != nil {
		return nil, nil, nil, wrapErr(ErrCorrupt, f.path, err, "Parquet schema")
	}
	u := Unit{Path: f.path, Partition: part}
	sh, err := newShaper(ctx, u, opts, sc)
	if err != nil {
		return nil, nil, nil, err
	}
	touched = restrict(sc, opts)
	if !sh.pass {
		return nil, sh.schema, touched, nil // the partition fails the filter
	}
	md := pf.MetaData()
	for rg := 0; rg < pf.NumRowGroups(); rg++ {
		rgm := md.RowGroup(rg)
		if !rowGroupMayMatch(fr, rgm, sh) {
			continue
		}
		u := Unit{Path: f.path, RowGroups: []int{rg}, Partition: part, Rows: rgm.NumRows(), Bytes: rgm.TotalByteSize()}
		units = append(units, u)
	}
	return units, sh.schema, touched, nil
}

// restrict is sc's fields that the projection or the filter names (all
// when there is no projection).
func restrict(sc *arrow.Schema, opts Options) *arrow.Schema {
	if len(opts.Columns) == 0 {
		return sc
	}
	var fs []arrow.Field
	for _, f := range sc.Fields() {
		in := slices.Contains(opts.Columns, f.Name)
		for _, p := range opts.Filter {
			in = in || p.Column == f.Name
		}
		if in {
			fs = append(fs, f)
		}
	}
	return arrow.NewSchema(fs, nil)
}

// sameSchema fails with ErrSchemaMismatch at the first field where b
// differs from a.
func sameSchema(pa string, a *arrow.Schema, pb string, b *arrow.Schema) error {
	for i := 0; i < max(a.NumFields(), b.NumFields()); i++ {
		var fa, fb *arrow.Field
		if i < a.NumFields() {
			fa = &a.Fields()[i]
		}
		if i < b.NumFields() {
			fb = &b.Fields()[i]
		}
		var detail, col string
		switch {
		case fb == nil:
			col, detail = fa.Name, fmt.Sprintf("field %d: %s has %s %s, the other file nothing", i, pa, fa.Name, fa.Type)
		case fa == nil:
			col, detail = fb.Name, fmt.Sprintf("field %d: %s has %s %s, the first file nothing", i, pb, fb.Name, fb.Type)
		case fa.Name != fb.Name || !arrow.TypeEqual(fa.Type, fb.Type):
			col, detail = fa.Name, fmt.Sprintf("field %d: %s %s against %s %s", i, fa.Name, fa.Type, fb.Name, fb.Type)
		default:
			continue
		}
		return &Error{Kind: ErrSchemaMismatch, Path: pa, Other: pb, Column: col, FirstRow: -1, LastRow: -1, Detail: detail}
	}
	return nil
}

// rowGroupMayMatch says whether row group rgm's statistics leave room for
// a row that passes every file-column predicate of sh.
func rowGroupMayMatch(fr *pqarrow.FileReader, rgm *metadata.RowGroupMetaData, sh *shaper) bool {
	for i, p := range sh.preds {
		sf := fr.Manifest.Fields[sh.predIdx[i]]
		if !sf.IsLeaf() {
			continue
		}
		st, ok := chunkStats(rgm, sf.ColIndex, sf.Field.Type)
		if ok && !mayMatch(p, st) {
			return false
		}
	}
	return true
}

// chunkStats reads a column chunk's statistics as rgStats, for the column
// types whose Parquet statistics order their values as the filter does
// (signed integers, floats, strings, booleans).
func chunkStats(rgm *metadata.RowGroupMetaData, col int, t arrow.DataType) (rgStats, bool) {
	switch t.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.FLOAT32, arrow.FLOAT64,
		arrow.STRING, arrow.LARGE_STRING, arrow.BOOL:
	default:
		return rgStats{}, false
	}
	cc, err := rgm.ColumnChunk(col)
	if err != nil {
		return rgStats{}, false
	}
	if set, err := cc.StatsSet(); err != nil || !set {
		return rgStats{}, false
	}
	ts, err := cc.Statistics()
	if err != nil || ts == nil {
		return rgStats{}, false
	}
	st := rgStats{Nulls: -1, Rows: rgm.NumRows()}
	if ts.HasNullCount() {
		st.Nulls = ts.NullCount()
	}
	if !ts.HasMinMax() {
		return st, true
	}
	switch s := ts.(type) {
	case *metadata.Int32Statistics:
		st.Min, st.Max = int64(s.Min()), int64(s.Max())
	case *metadata.Int64Statistics:
		st.Min, st.Max = s.Min(), s.Max()
	case *metadata.Float32Statistics:
		st.Min, st.Max = float64(s.Min()), float64(s.Max())
	case *metadata.Float64Statistics:
		st.Min, st.Max = s.Min(), s.Max()
	case *metadata.ByteArrayStatistics:
		st.Min, st.Max = string(s.Min()), string(s.Max())
	case *metadata.BooleanStatistics:
		st.Min, st.Max = s.Min(), s.Max()
	default:
		return rgStats{Nulls: -1, Rows: st.Rows}, true
	}
	return st, true
}

// readParquet reads a unit's row groups through pqarrow, only the
// columns the projection and the filter need: whole row groups with
// ReadRowGroups when TargetRows is 0, else batches of TargetRows from
// GetRecordReader.
func readParquet(ctx context.Context, u Unit, opts Options, emit func(arrow.RecordBatch) error) (err error) {
	defer recovered(u.Path, &err)
	props := pqarrow.ArrowReadProperties{BatchSize: int64(opts.TargetRows)}
	pf, fr, err := openParquet(u.Path, props)
	if err != nil {
		return err
	}
	defer pf.Close()
	sc, err := fr.Schema()
	if err != nil {
		return wrapErr(ErrCorrupt, u.Path, err, "Parquet schema")
	}
	names := make([]string, sc.NumFields())
	for i, f := range sc.Fields() {
		names[i] = f.Name
	}
	if err := collision(u, opts, names); err != nil {
		return err
	}
	need, err := wanted(u.Path, names, u, opts)
	if err != nil {
		return err
	}
	groups := u.RowGroups
	if groups == nil {
		for rg := 0; rg < pf.NumRowGroups(); rg++ {
			groups = append(groups, rg)
		}
	}
	for _, rg := range groups {
		if rg < 0 || rg >= pf.NumRowGroups() {
			return newErr(ErrCorrupt, u.Path, "row group %d of %d", rg, pf.NumRowGroups())
		}
	}
	// leaves: the Parquet leaf columns of the needed top-level fields
	var leaves []int
	var rawFields []arrow.Field
	for i, sf := range fr.Manifest.Fields {
		if need == nil || slices.Contains(need, sf.Field.Name) {
			leaves = appendLeaves(leaves, sf)
			rawFields = append(rawFields, sc.Field(i))
		}
	}
	var firstRow []int64 // file row of each row group's first row
	var at int64
	for rg := 0; rg < pf.NumRowGroups(); rg++ {
		firstRow = append(firstRow, at)
		at += pf.MetaData().RowGroup(rg).NumRows()
	}
	if len(leaves) == 0 {
		// Only partition or path columns: the rows are the footer's count.
		sh, err := newShaper(ctx, u, opts, arrow.NewSchema(nil, nil))
		if err != nil {
			return err
		}
		for _, rg := range groups {
			rec := array.NewRecordBatch(arrow.NewSchema(nil, nil), nil, pf.MetaData().RowGroup(rg).NumRows())
			err := sh.push(rec, emit)
			rec.Release()
			if err != nil {
				return err
			}
		}
		return sh.finish(emit)
	}
	if len(groups) == 0 { // not nil: no row group asked for
		sh, err := newShaper(ctx, u, opts, arrow.NewSchema(rawFields, nil))
		if err != nil {
			return err
		}
		return sh.finish(emit)
	}
	if opts.TargetRows == 0 {
		return readParquetGroups(ctx, u, opts, pf, fr, leaves, groups, firstRow, emit)
	}
	rr, err := fr.GetRecordReader(ctx, leaves, groups)
	if err != nil {
		return wrapErr(ErrCorrupt, u.Path, err, "row groups %v", groups)
	}
	defer rr.Release()
	sh, err := newShaper(ctx, u, opts, rr.Schema())
	if err != nil {
		return err
	}
	var done int64 // rows of the unit read so far
	for {
		rec, err := rr.Read()
		if err != nil && !errors.Is(err, io.EOF) {
			e := wrapErr(ErrCorrupt, u.Path, err, "")
			e.FirstRow, e.LastRow = unitRowRange(pf, groups, firstRow, done)
			return e
		}
		if rec == nil {
			break
		}
		done += rec.NumRows()
		if err := sh.push(rec, emit); err != nil {
			return err
		}
		if err != nil { // io.EOF with a last record
			break
		}
	}
	return sh.finish(emit)
}

// unitRowRange gives the file rows of the row group in which the unit's
// row `done` falls: where a read failed.
func unitRowRange(pf *file.Reader, groups []int, firstRow []int64, done int64) (int64, int64) {
	for _, rg := range groups {
		n := pf.MetaData().RowGroup(rg).NumRows()
		if done < n {
			return firstRow[rg], firstRow[rg] + n - 1
		}
		done -= n
	}
	return -1, -1
}

func appendLeaves(leaves []int, sf pqarrow.SchemaField) []int {
	if sf.IsLeaf() {
		return append(leaves, sf.ColIndex)
	}
	for _, c := range sf.Children {
		leaves = appendLeaves(leaves, c)
	}
	return leaves
}

// readParquetGroups reads whole row groups with pqarrow's column readers
// (ReadRowGroups, ReadTable's path), one row group at a time: when a
// unit is emitted whole (TargetRows 0) this is faster than the batching
// record reader, which grows its buffers as it goes.
func readParquetGroups(ctx context.Context, u Unit, opts Options, pf *file.Reader, fr *pqarrow.FileReader,
	leaves, groups []int, firstRow []int64, emit func(arrow.RecordBatch) error) error {
	var sh *shaper
	for _, rg := range groups {
		tbl, err := fr.ReadRowGroups(ctx, leaves, []int{rg})
		if err != nil {
			n := pf.MetaData().RowGroup(rg).NumRows()
			e := wrapErr(ErrCorrupt, u.Path, err, "")
			e.FirstRow, e.LastRow = firstRow[rg], firstRow[rg]+n-1
			return e
		}
		if sh == nil {
			if sh, err = newShaper(ctx, u, opts, tbl.Schema()); err != nil {
				tbl.Release()
				return err
			}
		}
		tr := array.NewTableReader(tbl, -1)
		for tr.Next() {
			if err = sh.push(tr.RecordBatch(), emit); err != nil {
				break
			}
		}
		if err == nil {
			err = tr.Err()
		}
		tr.Release()
		tbl.Release()
		if err != nil {
			return err
		}
	}
	return sh.finish(emit) // groups is not empty, so sh is set
}

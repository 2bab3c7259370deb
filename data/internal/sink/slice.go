package sink

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
)

// SliceRows returns the rows [offset, offset+n) of the concatenation of
// recs as zero-copy slices of them (NewSlice: no row is copied), skipping
// batches and parts with no rows. The driver uses it to give a write task
// the global row range of its file across several blocks, so that every
// file but the last holds exactly the rows asked for (Ray's
// min_rows_per_file, honoured exactly). The caller releases each returned
// batch. A range outside recs' rows fails with ErrInvalid.
func SliceRows(recs []arrow.RecordBatch, offset, n int64) ([]arrow.RecordBatch, error) {
	var total int64
	for i, r := range recs {
		if r == nil {
			return nil, &Error{Op: "slice", Err: ErrInvalid, Detail: fmt.Sprintf("record batch %d is nil", i)}
		}
		total += r.NumRows()
	}
	if offset < 0 || n < 0 || offset > total || n > total-offset {
		return nil, &Error{Op: "slice", Err: ErrInvalid,
			Detail: fmt.Sprintf("rows [%d, %d) outside the %d rows given", offset, offset+n, total)}
	}
	var out []arrow.RecordBatch
	var start int64 // global index of recs[i]'s first row
	for _, r := range recs {
		if n == 0 {
			break
		}
		rows := r.NumRows()
		if offset >= start+rows {
			start += rows
			continue
		}
		lo := offset - start
		hi := min(rows, lo+n)
		out = append(out, r.NewSlice(lo, hi))
		n -= hi - lo
		offset += hi - lo
		start += rows
	}
	return out, nil
}

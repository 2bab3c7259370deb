//go:build duckdb_arrow

package peers

import (
	"context"
	"database/sql/driver"
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	duckdb "github.com/duckdb/duckdb-go/v2"
)

// ArrowBuilt says whether this build has DuckDB's Arrow interface
// (the duckdb_arrow build tag), which GroupByArrow needs.
const ArrowBuilt = true

// GroupByArrow is GroupBy with the result taken through DuckDB's Arrow
// interface (a column batch at a time, copied into the Go slices) rather
// than scanned a row at a time through database/sql: DuckDB's fastest way
// to hand a result to Go.
func (d *DuckDB) GroupByArrow(ctx context.Context, glob string) (Groups, float64, error) {
	q := "SELECT k, sum(v), avg(v), count(*) FROM read_parquet(" + quote(glob) + ") GROUP BY k"
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return Groups{}, 0, fmt.Errorf("%w: conn: %v", ErrDuckDB, err)
	}
	defer conn.Close()
	var (
		g    Groups
		secs float64
	)
	err = conn.Raw(func(dc any) error {
		start := time.Now()
		ar, err := duckdb.NewArrowFromConn(dc.(driver.Conn))
		if err != nil {
			return err
		}
		rr, err := ar.QueryContext(ctx, q)
		if err != nil {
			return err
		}
		defer rr.Release()
		for rr.Next() {
			rec := rr.RecordBatch()
			k, ok1 := rec.Column(0).(*array.Int64)
			s, ok2 := rec.Column(1).(*array.Float64)
			m, ok3 := rec.Column(2).(*array.Float64)
			c, ok4 := rec.Column(3).(*array.Int64)
			if !ok1 || !ok2 || !ok3 || !ok4 {
				return fmt.Errorf("%w: result schema %s", ErrSchema, rec.Schema())
			}
			g.Keys = append(g.Keys, k.Int64Values()...)
			g.Sums = append(g.Sums, s.Float64Values()...)
			g.Means = append(g.Means, m.Float64Values()...)
			g.Counts = append(g.Counts, c.Int64Values()...)
		}
		if err := rr.Err(); err != nil {
			return err
		}
		secs = time.Since(start).Seconds()
		return nil
	})
	if err != nil {
		return Groups{}, 0, fmt.Errorf("%w: %s: %w", ErrDuckDB, q, err)
	}
	return g, secs, nil
}

//go:build !duckdb_arrow

package peers

import (
	"context"
	"fmt"
)

// ArrowBuilt says whether this build has DuckDB's Arrow interface
// (the duckdb_arrow build tag), which GroupByArrow needs.
const ArrowBuilt = false

// GroupByArrow needs the duckdb_arrow build tag; without it, it fails
// with ErrNoArrow.
func (d *DuckDB) GroupByArrow(ctx context.Context, glob string) (Groups, float64, error) {
	return Groups{}, 0, fmt.Errorf("%w: build with -tags duckdb_arrow", ErrNoArrow)
}

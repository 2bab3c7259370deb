package peers

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	_ "github.com/duckdb/duckdb-go/v2" // registers the "duckdb" database/sql driver
)

// DuckDB is an in-memory DuckDB database, the peer of rows 2 and 3.
type DuckDB struct {
	db *sql.DB
}

// OpenDuckDB opens an in-memory database that runs on threads threads
// and spills to tempDir (a sort of 2 GiB may not fit its memory limit).
func OpenDuckDB(ctx context.Context, tempDir string, threads int) (*DuckDB, error) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return nil, fmt.Errorf("%w: open: %v", ErrDuckDB, err)
	}
	// One connection, so that every statement sees the settings below.
	db.SetMaxOpenConns(1)
	d := &DuckDB{db: db}
	for _, stmt := range []string{
		fmt.Sprintf("SET threads = %d", max(threads, 1)),
		"SET temp_directory = " + quote(tempDir),
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			db.Close()
			return nil, fmt.Errorf("%w: %s: %v", ErrDuckDB, stmt, err)
		}
	}
	return d, nil
}

// Close closes the database.
func (d *DuckDB) Close() error { return d.db.Close() }

// quote makes s a SQL string literal.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// Groups is a group-by's result in Go: a row per key, in no order.
type Groups struct {
	Keys   []int64
	Sums   []float64
	Means  []float64
	Counts []int64
}

// Totals returns the number of groups, the sum of the counts and the sum
// of the sums, which a check compares across peers.
func (g Groups) Totals() (groups int, rows int64, sum float64) {
	for i := range g.Keys {
		rows += g.Counts[i]
		sum += g.Sums[i]
	}
	return len(g.Keys), rows, sum
}

// GroupBy runs sum, mean and count of v by k over the Parquet files that
// glob matches, end to end: DuckDB reads the files, aggregates, and every
// result row is scanned into Go slices through database/sql. It returns
// the result and the seconds it took.
func (d *DuckDB) GroupBy(ctx context.Context, glob string) (Groups, float64, error) {
	q := "SELECT k, sum(v), avg(v), count(*) FROM read_parquet(" + quote(glob) + ") GROUP BY k"
	start := time.Now()
	rows, err := d.db.QueryContext(ctx, q)
	if err != nil {
		return Groups{}, 0, fmt.Errorf("%w: %s: %v", ErrDuckDB, q, err)
	}
	defer rows.Close()
	var g Groups
	for rows.Next() {
		var (
			k, c int64
			s, m float64
		)
		if err := rows.Scan(&k, &s, &m, &c); err != nil {
			return Groups{}, 0, fmt.Errorf("%w: scan: %v", ErrDuckDB, err)
		}
		g.Keys = append(g.Keys, k)
		g.Sums = append(g.Sums, s)
		g.Means = append(g.Means, m)
		g.Counts = append(g.Counts, c)
	}
	if err := rows.Err(); err != nil {
		return Groups{}, 0, fmt.Errorf("%w: %s: %v", ErrDuckDB, q, err)
	}
	return g, time.Since(start).Seconds(), nil
}

// GroupByInEngine runs the same group-by but returns one row (totals
// over the groups, which use every aggregate so none is pruned), to show
// how much of GroupBy's time is database/sql's row-at-a-time scanning.
func (d *DuckDB) GroupByInEngine(ctx context.Context, glob string) (float64, error) {
	q := "SELECT count(*), sum(s), sum(m), sum(c) FROM (SELECT k, sum(v) AS s, avg(v) AS m, count(*) AS c FROM read_parquet(" +
		quote(glob) + ") GROUP BY k)"
	start := time.Now()
	var (
		n, c int64
		s, m float64
	)
	if err := d.db.QueryRowContext(ctx, q).Scan(&n, &s, &m, &c); err != nil {
		return 0, fmt.Errorf("%w: %s: %v", ErrDuckDB, q, err)
	}
	return time.Since(start).Seconds(), nil
}

// Sort sorts the Parquet files that glob matches by column by (or by
// random() when by is "", the random shuffle) and materialises the whole
// result: into a snappy Parquet file at out when toTable is false (the
// same work as rayo's read → sort → write), or into a DuckDB table in
// memory when it is true (the same work as rayo's read → sort →
// materialise), which is then dropped. It returns the seconds the
// statement took and the rows it wrote.
func (d *DuckDB) Sort(ctx context.Context, glob, by, out string, toTable bool) (float64, int64, error) {
	order := "random()"
	if by != "" {
		order = `"` + strings.ReplaceAll(by, `"`, `""`) + `"`
	}
	sel := "SELECT * FROM read_parquet(" + quote(glob) + ") ORDER BY " + order
	q := "COPY (" + sel + ") TO " + quote(out) + " (FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE 1048576)"
	if toTable {
		q = "CREATE OR REPLACE TABLE sorted AS " + sel
	}
	start := time.Now()
	res, err := d.db.ExecContext(ctx, q)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %s: %v", ErrDuckDB, q, err)
	}
	secs := time.Since(start).Seconds()
	n, err := res.RowsAffected()
	if err != nil {
		return 0, 0, fmt.Errorf("%w: rows affected: %v", ErrDuckDB, err)
	}
	if toTable {
		if _, err := d.db.ExecContext(ctx, "DROP TABLE sorted"); err != nil {
			return 0, 0, fmt.Errorf("%w: drop: %v", ErrDuckDB, err)
		}
	}
	return secs, n, nil
}

// Version is DuckDB's version string.
func (d *DuckDB) Version(ctx context.Context) (string, error) {
	var v string
	if err := d.db.QueryRowContext(ctx, "SELECT version()").Scan(&v); err != nil {
		return "", fmt.Errorf("%w: version: %v", ErrDuckDB, err)
	}
	return v, nil
}

// Package peers measures what issue 16's Data benchmark compares rayo
// Data against, in the same run and on the same files: the floor of row 1
// (a plain arrow-go program that reads Parquet, does the map's arithmetic
// and writes Parquet on every core), DuckDB (its Go binding: group-by,
// ORDER BY and ORDER BY random()) and pandas (Debian's python3-pandas,
// from CSV, its load and its aggregation timed apart).
//
// Ray has no equivalent; Ray's release tests compare Ray Data against
// single-node pandas and against Spark the same way.
package peers

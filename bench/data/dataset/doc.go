// Package dataset generates and describes the data of rayo Data's
// benchmark (issue 16's "Performance" rows): the ≥ 2 GiB table that row 1
// reads, maps and writes and rows 3 sort and shuffle, and the two
// group-by tables of row 2, as snappy Parquet (row groups of 1M rows at
// full scale) and, for the group-by tables, also as CSV for pandas.
//
// Generation is deterministic (a PCG generator seeded per file), so two
// runs at the same scale write the same values and a peer's result can be
// checked against another's. A manifest (manifest.json) in the directory
// records what was written: the peers and rayo's rows read their inputs
// from it rather than guessing paths.
//
// Ray has no equivalent: Ray's own release benchmarks generate their data
// with ray.data.range and read_parquet over S3 buckets.
package dataset

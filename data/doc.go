// Package data is rayo's data layer, as Ray Data (ray.data) is Ray's: it
// loads, transforms and feeds data to training and batch inference,
// streaming blocks through a pipeline of operators across the cluster
// without holding a whole dataset in memory.
//
// # Blocks
//
// A dataset is a sequence of blocks, as in Ray Data. A block is one Apache
// Arrow record batch (github.com/apache/arrow-go/v18) stored in rayo's
// object store in the Arrow IPC file format, as a []byte object. A reader
// on the same node reads a block in place: the object's bytes are a slice
// of the store's shared memory, and the decoded columns point into that
// slice, with no copy and no decode of the column data. A decoded block is
// therefore valid only while the bytes it was read from are: while the
// task that received them runs, or while the reference they were fetched
// with is held.
//
// # Public API only
//
// Like Ray's libraries, package data is built on the public rayo API alone
// (github.com/rayo-dev/rayo), as a user's code could be; it imports nothing
// under rayo's internal/ (imports_test.go at the repository root checks
// this). Its own internals live under data/internal/.
//
// This package is the first brick of Data: the block format
// (data/internal/block). Datasets, sources, transformations and sinks are
// not there yet.
package data

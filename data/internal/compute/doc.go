// Package compute holds rayo Data's kernels over Arrow record batches:
// hash keys, hash/random/range partitioning, shuffles, the three-phase
// group-by aggregation (Partial, Combine, Finalize), sort, hash join,
// unique and concat. They are what Ray Data does with pyarrow compute
// inside its shuffle tasks (ray.data._internal.arrow_block and the hash
// shuffle operators), written on typed column slices rather than per-row
// values.
//
// The data executor runs them as the map and reduce stages of a shuffle
// (map: HashPartition or RangePartition each block into n parts; reduce:
// Combine or Sort part j of every block), or all in one task when the
// input is small (Aggregate, Sort, HashJoin over every block at once).
//
// The package is pure Arrow and Go: it imports no part of rayo, starts no
// goroutine and allocates through Go's allocator (memory.DefaultAllocator),
// so every record it returns may be released or simply dropped. Inputs are
// never modified or released, and no output shares memory with an input
// (a block read in place from the object store may go away once
// released), except Concat of a single record, which returns it. Hashes are deterministic (xxh3 and a fixed
// integer mixer, no per-process seed), so blocks partitioned in different
// processes agree on which part a key belongs to.
package compute

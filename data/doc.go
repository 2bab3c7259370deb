// Package data is rayo's data layer, as Ray Data (ray.data) is Ray's: it
// loads, transforms and feeds data to training and batch inference,
// streaming blocks through a pipeline of operators across the cluster in
// bounded memory.
//
// # Datasets
//
// A Dataset is lazy: sources (Range, FromItems, FromArrow, ReadParquet,
// ReadCSV, ReadJSON, ReadText, ReadBinaryFiles, ReadImages) and
// transformations (Map, FlatMap, Filter, MapBatches, AddColumn,
// SelectColumns, DropColumns, RenameColumns, Limit, Union, Zip,
// RandomShuffle, Sort, Repartition, GroupBy, Join) build a plan and run
// nothing. Consuming it (IterBatches, IterRows, Take, TakeAll, Count,
// Schema, Show, Materialize, Split, StreamingSplit, WriteParquet, WriteCSV,
// WriteJSON) runs the plan.
//
// # User functions
//
// Go cannot ship closures. A user function is registered at package level
// (MapFunc, FlatMapFunc, FilterFunc, BatchFunc, ColumnsFunc, ColumnFunc,
// RegisterClass) and reaches the workers that run it by name, as a *Fn.
// A function registered after rayo.Init (a closure made in main) fails
// the run with ErrNotRegistered; it is never run in the driver instead.
// Row functions take and return Go structs whose exported fields are the
// columns (named by `arrow:"name"` tags); batch functions take Arrow
// records or structs of column slices. A stateful function (RegisterClass)
// builds its state once per actor of an autoscaling pool (Concurrency).
//
// # Blocks
//
// A dataset is a sequence of blocks. A block is one Apache Arrow record
// batch (github.com/apache/arrow-go/v18) stored in rayo's object store in
// the Arrow IPC file format, as a []byte object. A reader on the same node
// reads a block in place: the object's bytes are a slice of the store's
// shared memory, and the decoded columns point into it, with no copy and
// no decode of the column data. A batch a function or an iterator is
// given is therefore valid only during the call, or until the iterator's
// next step.
//
// # Execution
//
// The plan is optimised (consecutive row-wise operators with compatible
// resources fused into one task, a read's projection and a limit pushed
// into the reads) and run by a streaming executor in the consuming
// process. Its memory is bounded by a budget of object-store bytes
// (ObjectStoreBudget; default half the cluster's store): the blocks in
// flight plus room for running tasks' output. Sources launch tasks only
// within it, so a slow consumer stops the producers. A run that makes no
// progress for StallTimeout (default 10 minutes) fails with a *StallError
// naming the operator. All-to-all operators (shuffles, sorts, group-bys,
// joins) hold their whole input, as Ray's do; a small input is handled in
// one task.
//
// # Public API only
//
// Like Ray's libraries, package data is built on the public rayo API alone
// (github.com/rayo-dev/rayo), as a user's code could be; it imports nothing
// under rayo's internal/ (imports_test.go at the repository root checks
// this). Its own internals live under data/internal/: block (the block
// format), rows and cols (Go values and Arrow), source and sink (files),
// compute (group-by, sort, partition and join kernels), progress.
//
// docs/data.md has the API table against Ray Data's names.
package data

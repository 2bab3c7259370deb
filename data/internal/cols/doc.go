// Package cols converts between Arrow record batches and typed Go column
// batches: a struct whose fields are slices, one per column, as
//
//	type Batch struct {
//		X     []float64 `arrow:"x"`
//		Label []string
//		Img   [][]uint8 // a binary column
//		Score []*float32 // a nullable column: nil is a null
//	}
//
// It is what rayo Data's MapBatches stands on when a UDF asks for typed
// columns, where Ray Data hands a UDF a dict of NumPy arrays
// (batch_format="numpy"). Column names and types are package rows': the
// field's `arrow:"name"` tag or its Go name (`arrow:"-"` skips it), and the
// Arrow type rows gives the slice's element type.
//
// FromRecord reads fixed-width numeric columns without nulls in place: the
// slice aliases the record's buffer (no copy; for a block read from the
// object store, the store's shared memory). Such a batch is valid only
// while the record is, and is read-only. Other columns (bool, strings,
// binary, lists, structs, columns with nulls) are copied.
package cols

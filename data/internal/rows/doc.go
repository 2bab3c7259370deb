// Package rows converts between Go structs and Arrow record batches: the
// schema of a struct type (SchemaOf), a slice of structs to a record
// (ToRecord) and a record back to a slice of structs (FromRecord). It is
// what rayo Data's FromItems and typed Map/MapBatches stand on, where Ray
// Data infers a pyarrow schema from Python rows (ray.data.from_items).
//
// Field names come from the tag `arrow:"name"` (`arrow:"-"` skips a
// field; untagged exported fields keep their Go name). A pointer field is
// a nullable column and a nil pointer is a null; every other field is
// non-nullable. A nil slice or map is written as an empty list or map, and
// an empty list or map is read back as nil.
package rows

package rows

import "errors"

// Errors of package rows. Each error from SchemaOf, ToRecord or
// FromRecord wraps one of them (errors.Is) and names the field path,
// column or row at fault.
var (
	// ErrUnsupportedType: a struct field's Go type has no Arrow
	// equivalent (chan, func, interface, a map without string keys, a
	// recursive type, a struct with no exported fields).
	ErrUnsupportedType = errors.New("rows: unsupported type")
	// ErrNotStruct: SchemaOf was given something other than a struct
	// type, or ToRecord something other than a slice of structs.
	ErrNotStruct = errors.New("rows: not a struct type")
	// ErrMissingColumn: FromRecord's record has no column for a field.
	ErrMissingColumn = errors.New("rows: missing column")
	// ErrTypeMismatch: a column's Arrow type is not the field's.
	ErrTypeMismatch = errors.New("rows: column type mismatch")
	// ErrNull: a null value where the field is not a pointer.
	ErrNull = errors.New("rows: null in a non-nullable field")
	// ErrNilRecord: FromRecord was given a nil record.
	ErrNilRecord = errors.New("rows: nil record")
)

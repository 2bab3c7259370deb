package cols

import (
	"fmt"
	"reflect"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/rayo-dev/rayo/data/internal/rows"
)

// how says how a column is converted.
type how int

const (
	viaRows  how = iota // any other element type: through package rows
	asNum               // a fixed-width number: aliased when it can be
	asNumPtr            // a pointer to a fixed-width number: nullable
	asBool              // bool (Arrow packs bits: always copied)
	asString            // string: one copy of the column's bytes
	asBinary            // []byte: one copy of the column's bytes
)

// field is one column of a batch type.
type field struct {
	name   string       // the column name
	path   string       // "Batch.X", for errors
	offset uintptr      // the field's offset in the batch struct
	typ    reflect.Type // the field's slice type
	elem   reflect.Type // its element type
	how    how
	num    reflect.Kind   // asNum, asNumPtr: the number's kind
	dt     arrow.DataType // the column's Arrow type
	arrow  arrow.Field
	// one is struct{F elem `arrow:"name"`}: the column alone as package
	// rows sees it; it has elem's layout, so a []one is a []elem.
	one reflect.Type
	// onePtr is struct{F *elem}, to read a column with nulls into a
	// non-pointer elem (the nulls become zero values); nil if elem is a
	// pointer.
	onePtr reflect.Type
}

// plan is the conversion of one batch type, built once and cached.
type plan struct {
	fields []field
	schema *arrow.Schema
	err    error
}

var plans sync.Map // reflect.Type -> *plan

// SchemaOf returns the Arrow schema of batch type t, a struct whose
// exported fields are slices: one column per field, named by its
// `arrow:"name"` tag or its Go name (`arrow:"-"` skips it), of the Arrow
// type package rows gives the slice's element type; a pointer element
// makes the column nullable. Ray Data's equivalent is the schema of a
// batch of NumPy arrays (batch_format="numpy"). Errors wrap ErrNotBatch or
// ErrUnsupported (a *ColumnError naming the field). The result is cached
// per type.
func SchemaOf(t reflect.Type) (*arrow.Schema, error) {
	p, err := planOf(t)
	if err != nil {
		return nil, err
	}
	return p.schema, nil
}

func planOf(t reflect.Type) (*plan, error) {
	if t == nil || t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("%w: %v is not a struct", ErrNotBatch, t)
	}
	if p, ok := plans.Load(t); ok {
		p := p.(*plan)
		return p, p.err
	}
	p := &plan{}
	p.fields, p.err = fieldsOf(t)
	if p.err == nil {
		fs := make([]arrow.Field, len(p.fields))
		for i, f := range p.fields {
			fs[i] = f.arrow
		}
		p.schema = arrow.NewSchema(fs, nil)
	}
	v, _ := plans.LoadOrStore(t, p)
	p = v.(*plan)
	return p, p.err
}

func fieldsOf(t reflect.Type) ([]field, error) {
	var fields []field
	seen := map[string]string{}
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		name, ok := rows.ColumnName(sf)
		if !ok {
			continue
		}
		path := t.Name() + "." + sf.Name
		if sf.Type.Kind() != reflect.Slice {
			return nil, &ColumnError{Field: path, Column: name, Err: ErrNotBatch,
				Detail: fmt.Sprintf("is %s, not a slice (a batch has one slice per column)", sf.Type)}
		}
		if other, dup := seen[name]; dup {
			return nil, &ColumnError{Field: path, Column: name, Err: ErrNotBatch,
				Detail: "the same column name as " + other}
		}
		seen[name] = path
		f, err := fieldOf(sf, name, path)
		if err != nil {
			return nil, err
		}
		fields = append(fields, f)
	}
	if len(fields) == 0 {
		return nil, fmt.Errorf("%w: %v has no exported slice field", ErrNotBatch, t)
	}
	return fields, nil
}

func fieldOf(sf reflect.StructField, name, path string) (field, error) {
	elem := sf.Type.Elem()
	tag := reflect.StructTag(fmt.Sprintf("arrow:%q", name))
	f := field{name: name, path: path, offset: sf.Offset, typ: sf.Type, elem: elem,
		one: reflect.StructOf([]reflect.StructField{{Name: "F", Type: elem, Tag: tag}})}
	// The column's type is the one rows gives the element alone.
	s, err := rows.SchemaOf(f.one)
	if err != nil {
		return field{}, &ColumnError{Field: path, Column: name, Err: ErrUnsupported, Cause: err}
	}
	f.arrow = s.Field(0)
	f.dt = f.arrow.Type
	if elem.Kind() != reflect.Pointer {
		f.onePtr = reflect.StructOf([]reflect.StructField{{Name: "F", Type: reflect.PointerTo(elem), Tag: tag}})
	}
	switch {
	case isNumType(f.dt) && isNumKind(elem.Kind()):
		f.how, f.num = asNum, elem.Kind()
	case isNumType(f.dt) && elem.Kind() == reflect.Pointer && isNumKind(elem.Elem().Kind()):
		f.how, f.num = asNumPtr, elem.Elem().Kind()
	case f.dt.ID() == arrow.BOOL && elem.Kind() == reflect.Bool:
		f.how = asBool
	case f.dt.ID() == arrow.STRING && elem.Kind() == reflect.String:
		f.how = asString
	case f.dt.ID() == arrow.BINARY && elem.Kind() == reflect.Slice && elem.Elem().Kind() == reflect.Uint8:
		f.how = asBinary
	}
	return f, nil
}

func isNumKind(k reflect.Kind) bool {
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// isNumType: a primitive number column (not a timestamp or duration,
// whose Go types rows maps otherwise).
func isNumType(dt arrow.DataType) bool {
	switch dt.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64,
		arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
		arrow.FLOAT32, arrow.FLOAT64:
		return true
	}
	return false
}

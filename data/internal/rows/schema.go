package rows

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
)

// FieldError is the error for a struct field SchemaOf cannot map to an
// Arrow column (Ray Data's equivalent: the pyarrow.ArrowInvalid or
// ArrowTypeError from_items raises on a value Arrow cannot hold). It wraps
// ErrUnsupportedType.
type FieldError struct {
	Path string       // the field's path from the struct type, e.g. "Row.Inner.F"
	Type reflect.Type // the Go type at fault
	Why  string       // what is wrong with it
}

// Error names the field path and its type, as "Row.Inner.F: chan int is
// not supported".
func (e *FieldError) Error() string {
	return fmt.Sprintf("%s: %s %s", e.Path, e.Type, e.Why)
}

// Unwrap makes errors.Is(err, ErrUnsupportedType) hold.
func (e *FieldError) Unwrap() error { return ErrUnsupportedType }

// plan is the conversion of one struct type, built once and cached.
type plan struct {
	schema *arrow.Schema
	conv   *structConv
	err    error
}

var plans sync.Map // reflect.Type -> *plan

var (
	timeType     = reflect.TypeFor[time.Time]()
	durationType = reflect.TypeFor[time.Duration]()
	// Timestamps are µs in UTC: the precision Ray Data's pyarrow
	// conversion of Python datetimes keeps.
	timestampType = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
)

// SchemaOf returns the Arrow schema of struct type t: one column per
// exported field, named by its `arrow:"name"` tag or its Go name (`arrow:"-"`
// skips the field). Ray Data's equivalent is the schema pyarrow infers in
// ray.data.from_items. Errors wrap ErrNotStruct or ErrUnsupportedType (a
// *FieldError naming the field path). The result is cached per type.
func SchemaOf(t reflect.Type) (*arrow.Schema, error) {
	p, err := planOf(t)
	if err != nil {
		return nil, err
	}
	return p.schema, nil
}

func planOf(t reflect.Type) (*plan, error) {
	if t == nil || t.Kind() != reflect.Struct || t == timeType {
		return nil, fmt.Errorf("%w: %v", ErrNotStruct, t)
	}
	if p, ok := plans.Load(t); ok {
		p := p.(*plan)
		return p, p.err
	}
	p := &plan{}
	c, err := convOf(t, t.Name(), map[reflect.Type]bool{})
	if err != nil {
		p.err = err
	} else {
		sc := c.(*structConv)
		p.conv = sc
		p.schema = arrow.NewSchema(sc.arrowFields(), nil)
	}
	v, _ := plans.LoadOrStore(t, p)
	p = v.(*plan)
	return p, p.err
}

// convOf builds the converter of Go type t at path; inProgress holds the
// struct types being built above it, to refuse recursive types.
func convOf(t reflect.Type, path string, inProgress map[reflect.Type]bool) (conv, error) {
	switch t {
	case timeType:
		return timeConv{}, nil
	case durationType:
		return durationConv{}, nil
	}
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64, reflect.String:
		return scalarConv{kind: t.Kind()}, nil
	case reflect.Pointer:
		if t.Elem().Kind() == reflect.Pointer {
			return nil, &FieldError{path, t, "is not supported (pointer to pointer)"}
		}
		e, err := convOf(t.Elem(), path, inProgress)
		if err != nil {
			return nil, err
		}
		return &ptrConv{elem: e, elemType: t.Elem()}, nil
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return binaryConv{}, nil
		}
		e, err := convOf(t.Elem(), path+"[]", inProgress)
		if err != nil {
			return nil, err
		}
		return &listConv{elem: e, goType: t}, nil
	case reflect.Array:
		e, err := convOf(t.Elem(), path+"[]", inProgress)
		if err != nil {
			return nil, err
		}
		return &arrayConv{elem: e, n: t.Len()}, nil
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return nil, &FieldError{path, t, "is not supported (map keys must be strings)"}
		}
		e, err := convOf(t.Elem(), path+"[]", inProgress)
		if err != nil {
			return nil, err
		}
		return &mapConv{item: e, goType: t}, nil
	case reflect.Struct:
		return structConvOf(t, path, inProgress)
	}
	return nil, &FieldError{path, t, "is not supported"}
}

// ColumnName is the column a struct field maps to: its `arrow:"name"`
// tag, else its name. ok is false for a field that maps to none
// (unexported, or tagged `arrow:"-"`). Package cols names the columns of
// typed batches the same way.
func ColumnName(f reflect.StructField) (name string, ok bool) {
	if !f.IsExported() {
		return "", false
	}
	name = f.Name
	if tag, found := f.Tag.Lookup("arrow"); found {
		tag, _, _ = strings.Cut(tag, ",")
		if tag == "-" {
			return "", false
		}
		if tag != "" {
			name = tag
		}
	}
	return name, true
}

func structConvOf(t reflect.Type, path string, inProgress map[reflect.Type]bool) (conv, error) {
	if inProgress[t] {
		return nil, &FieldError{path, t, "is not supported (recursive type)"}
	}
	inProgress[t] = true
	defer delete(inProgress, t)
	sc := &structConv{}
	seen := map[string]string{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, ok := ColumnName(f)
		if !ok {
			continue
		}
		fpath := path + "." + f.Name
		if other, dup := seen[name]; dup {
			return nil, &FieldError{fpath, f.Type, fmt.Sprintf("has column name %q, as %s has", name, other)}
		}
		seen[name] = fpath
		c, err := convOf(f.Type, fpath, inProgress)
		if err != nil {
			return nil, err
		}
		sc.fields = append(sc.fields, fieldConv{
			name: name, index: i, offset: f.Offset, conv: c, nullable: f.Type.Kind() == reflect.Pointer,
		})
	}
	if len(sc.fields) == 0 {
		return nil, &FieldError{path, t, "is not supported (no exported fields)"}
	}
	sc.dt = arrow.StructOf(sc.arrowFields()...)
	return sc, nil
}

func (sc *structConv) arrowFields() []arrow.Field {
	fs := make([]arrow.Field, len(sc.fields))
	for i, f := range sc.fields {
		fs[i] = arrow.Field{Name: f.name, Type: f.conv.dataType(), Nullable: f.nullable}
	}
	return fs
}

package data

import (
	"context"
	"fmt"
	"reflect"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/data/internal/cols"
	"github.com/rayo-dev/rayo/data/internal/rows"
)

// Go cannot ship closures, so a user function reaches the workers that
// run it by name: each is registered at package level (a var
// declaration), which every process of the program, driver and workers,
// runs at start. A *Fn is that registered, passable reference. A function
// registered after rayo.Init (a closure made in main) is refused with
// ErrNotRegistered when the dataset runs, never run in the driver in its
// place.

// fnKind says what a function does to its batches.
type fnKind int

const (
	kindMap     fnKind = iota + 1 // one row in, one row out
	kindFlatMap                   // one row in, any number out
	kindFilter                    // one row in, kept or not
	kindBatch                     // one batch in, one batch out
	kindColumn                    // one batch in, one column out (AddColumn)
	kindClass                     // a stateful batch function: runs on an actor pool
)

func (k fnKind) String() string {
	switch k {
	case kindMap:
		return "a row function (MapFunc)"
	case kindFlatMap:
		return "a flat-map function (FlatMapFunc)"
	case kindFilter:
		return "a filter function (FilterFunc)"
	case kindBatch:
		return "a batch function (BatchFunc, ColumnsFunc)"
	case kindColumn:
		return "a column function (ColumnFunc)"
	case kindClass:
		return "a stateful batch function (RegisterClass)"
	}
	return "an unknown function"
}

// batchFunc is what every function but a class compiles to.
type batchFunc func(ctx context.Context, rec arrow.RecordBatch) (arrow.RecordBatch, error)

// fnDef is a registration.
type fnDef struct {
	name   string
	kind   fnKind
	batch  batchFunc                                                             // all kinds but column and class
	column func(ctx context.Context, rec arrow.RecordBatch) (arrow.Array, error) // kindColumn
	// kindClass: newState builds an instance from its encoded constructor
	// arguments; call runs it on a batch.
	newState func(ctx context.Context, args []byte) (any, error)
	call     func(ctx context.Context, state any, rec arrow.RecordBatch) (arrow.RecordBatch, error)
}

var fnRegistry = struct {
	sync.RWMutex
	m map[string]*fnDef
}{m: map[string]*fnDef{}}

// Fn is a registered user function: a passable reference to it by name
// (Ray Data takes the Python callable itself). Make one with MapFunc,
// FlatMapFunc, FilterFunc, BatchFunc, ColumnsFunc, ColumnFunc or a
// Class's With, at package level.
type Fn struct {
	name string
	kind fnKind
	args []byte // a class's constructor arguments (msgpack)
	err  error  // registered late: every use fails with it
}

// Name is the function's registered name.
func (f *Fn) Name() string { return f.name }

// register records def. A name registered twice is a programming error
// that shows at start-up, so it panics, as rayo.Register does.
func register(def *fnDef) *Fn {
	if def.name == "" {
		panic("data: a function needs a name")
	}
	fnRegistry.Lock()
	defer fnRegistry.Unlock()
	if _, taken := fnRegistry.m[def.name]; taken {
		panic(fmt.Sprintf("data: function name %q registered twice", def.name))
	}
	f := &Fn{name: def.name, kind: def.kind}
	if rayo.IsInitialized() {
		// Workers never run this registration: refuse every use rather
		// than run the function in the driver.
		f.err = fmt.Errorf("%w: %q was registered after rayo.Init (a closure made at run time?); register it in a package-level var so that workers have it too", ErrNotRegistered, def.name)
		return f
	}
	fnRegistry.m[def.name] = def
	return f
}

// lookupFn returns the registration of name, as this process has it.
func lookupFn(name string, want fnKind) (*fnDef, error) {
	fnRegistry.RLock()
	def := fnRegistry.m[name]
	fnRegistry.RUnlock()
	if def == nil {
		return nil, fmt.Errorf("%w: %q is not registered in this process; register it in a package-level var", ErrNotRegistered, name)
	}
	if def.kind != want {
		return nil, fmt.Errorf("%w: %q is %v, wanted %v", ErrWrongKind, name, def.kind, want)
	}
	return def, nil
}

// MapFunc registers fn as a row function for Dataset.Map (Ray's
// Dataset.map): each row, as an In (a struct; its fields are the columns,
// named by `arrow:"name"` tags), becomes one Out row.
func MapFunc[In, Out any](name string, fn func(In) (Out, error)) *Fn {
	return register(&fnDef{name: name, kind: kindMap, batch: func(_ context.Context, rec arrow.RecordBatch) (arrow.RecordBatch, error) {
		in, err := rows.FromRecord[In](rec)
		if err != nil {
			return nil, err
		}
		out := make([]Out, len(in))
		for i := range in {
			if out[i], err = fn(in[i]); err != nil {
				return nil, rowErr(i, err)
			}
		}
		return rows.ToRecord(memory.DefaultAllocator, out)
	}})
}

// FlatMapFunc registers fn for Dataset.FlatMap (Ray's flat_map): each row
// becomes any number of rows.
func FlatMapFunc[In, Out any](name string, fn func(In) ([]Out, error)) *Fn {
	return register(&fnDef{name: name, kind: kindFlatMap, batch: func(_ context.Context, rec arrow.RecordBatch) (arrow.RecordBatch, error) {
		in, err := rows.FromRecord[In](rec)
		if err != nil {
			return nil, err
		}
		var out []Out
		for i := range in {
			more, err := fn(in[i])
			if err != nil {
				return nil, rowErr(i, err)
			}
			out = append(out, more...)
		}
		if out == nil {
			out = []Out{}
		}
		return rows.ToRecord(memory.DefaultAllocator, out)
	}})
}

// FilterFunc registers fn for Dataset.Filter (Ray's filter): rows for
// which it returns false are dropped. Only the columns In names are
// decoded; the kept rows keep every column.
func FilterFunc[In any](name string, fn func(In) (bool, error)) *Fn {
	return register(&fnDef{name: name, kind: kindFilter, batch: func(ctx context.Context, rec arrow.RecordBatch) (arrow.RecordBatch, error) {
		in, err := rows.FromRecord[In](rec)
		if err != nil {
			return nil, err
		}
		keep := make([]bool, len(in))
		for i := range in {
			if keep[i], err = fn(in[i]); err != nil {
				return nil, rowErr(i, err)
			}
		}
		return filterRecord(ctx, rec, keep)
	}})
}

// BatchFunc registers fn for Dataset.MapBatches (Ray's map_batches with
// batch_format="pyarrow"): each batch is an Arrow record, valid only
// during the call (it may point into the object store's shared memory);
// the returned record may have any number of rows and columns.
func BatchFunc(name string, fn func(ctx context.Context, batch arrow.RecordBatch) (arrow.RecordBatch, error)) *Fn {
	return register(&fnDef{name: name, kind: kindBatch, batch: fn})
}

// ColumnsFunc registers fn for Dataset.MapBatches with typed column
// batches (Ray's map_batches with batch_format="numpy"): In and Out are
// structs of slices, one per column (`arrow:"name"` tags), e.g.
// struct{ X []float64 `arrow:"x"` }. Numeric columns without nulls are
// read in place, without a copy: the batch is read-only and valid only
// during the call. Out's slices must all have the same length.
func ColumnsFunc[In, Out any](name string, fn func(ctx context.Context, batch In) (Out, error)) *Fn {
	return register(&fnDef{name: name, kind: kindBatch, batch: func(ctx context.Context, rec arrow.RecordBatch) (arrow.RecordBatch, error) {
		in, err := cols.FromRecord[In](rec)
		if err != nil {
			return nil, err
		}
		out, err := fn(ctx, in)
		if err != nil {
			return nil, err
		}
		res, err := cols.ToRecord(memory.DefaultAllocator, out)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadBatch, err)
		}
		return res, nil
	}})
}

// ColumnFunc registers fn for Dataset.AddColumn (Ray's add_column): it
// returns the new column for a batch, one value per row.
func ColumnFunc(name string, fn func(ctx context.Context, batch arrow.RecordBatch) (arrow.Array, error)) *Fn {
	return register(&fnDef{name: name, kind: kindColumn, column: fn})
}

// Class is a registered stateful batch function (Ray Data's callable
// class): an instance is built once per actor of a pool, from constructor
// arguments of type A, and then called on batch after batch. Use it with
// MapBatches through With.
type Class[A any] struct {
	name string
	err  error
}

// RegisterClass registers a stateful batch function: newFn builds the
// state S once per actor (load a model), call runs it on a batch.
func RegisterClass[S, A any](name string, newFn func(ctx context.Context, args A) (S, error), call func(ctx context.Context, state S, batch arrow.RecordBatch) (arrow.RecordBatch, error)) *Class[A] {
	f := register(&fnDef{name: name, kind: kindClass,
		newState: func(ctx context.Context, b []byte) (any, error) {
			var args A
			if err := msgpack.Unmarshal(b, &args); err != nil {
				return nil, fmt.Errorf("%w: constructor arguments of %q (%v): %v", ErrInvalidArgument, name, reflect.TypeFor[A](), err)
			}
			return newFn(ctx, args)
		},
		call: func(ctx context.Context, state any, rec arrow.RecordBatch) (arrow.RecordBatch, error) {
			return call(ctx, state.(S), rec)
		}})
	return &Class[A]{name: f.name, err: f.err}
}

// With binds constructor arguments (Ray's fn_constructor_args), giving the
// function to pass to MapBatches.
func (c *Class[A]) With(args A) *Fn {
	f := &Fn{name: c.name, kind: kindClass, err: c.err}
	if f.err == nil {
		b, err := msgpack.Marshal(args)
		if err != nil {
			f.err = fmt.Errorf("%w: constructor arguments of %q: %v", ErrInvalidArgument, c.name, err)
		}
		f.args = b
	}
	return f
}

// rowError marks the row of a batch where a row function failed.
type rowError struct {
	row int
	err error
}

func (e *rowError) Error() string { return fmt.Sprintf("row %d of the batch: %v", e.row, e.err) }
func (e *rowError) Unwrap() error { return e.err }

func rowErr(i int, err error) error { return &rowError{row: i, err: err} }

package rayo

import (
	"errors"
	"reflect"
	"testing"
	"unsafe"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/rayo-dev/rayo/internal/errs"
)

type travelThing struct{ n int }

var (
	travelDouble = Register[int]("travel.unit.double", func(x int) int { return 2 * x })
	travelThingT = RegisterActor[travelThing]("travel.unit.Thing", func() *travelThing { return &travelThing{} })
	travelThingN = RegisterMethod[int](travelThingT, "N", func(t *travelThing) int { return t.n })
)

// roundTrip encodes in and decodes the bytes into out, as a worker does
// with an argument.
func roundTrip(t *testing.T, in, out any) {
	t.Helper()
	b, err := msgpack.Marshal(in)
	if err != nil {
		t.Fatalf("encoding %T: %v", in, err)
	}
	if err := msgpack.Unmarshal(b, out); err != nil {
		t.Fatalf("decoding into %T: %v", out, err)
	}
}

// fill sets every field of v, exported or not, to a value that is not the
// zero value (and not a default), recursively.
func fill(t *testing.T, v reflect.Value) {
	t.Helper()
	if !v.CanSet() {
		v = reflect.NewAt(v.Type(), unsafe.Pointer(v.UnsafeAddr())).Elem()
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString("x-" + v.Type().Name())
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(5)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(3)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(0.25)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(t, k)
		fill(t, e)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 1, 1)
		fill(t, s.Index(0))
		v.Set(s)
	case reflect.Struct:
		for i := range v.NumField() {
			fill(t, v.Field(i))
		}
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(t, p.Elem())
		v.Set(p)
	default:
		t.Fatalf("fill: a %v field; teach fill (and wireOptions) about it", v.Type())
	}
}

// TestWireOptionsCover fails when callOptions gains a field that does not
// survive the trip: every field is set and must come back equal.
func TestWireOptionsCover(t *testing.T) {
	var o callOptions
	fill(t, reflect.ValueOf(&o).Elem())
	in := &Task[int]{def: travelDouble.def, opts: o}
	var out *Task[int]
	roundTrip(t, in, &out)
	if !reflect.DeepEqual(out.opts, o) {
		t.Fatalf("call options changed on the wire:\n got %+v\nwant %+v", out.opts, o)
	}
	at := &ActorType[travelThing]{def: travelThingT.def, opts: o}
	var aout *ActorType[travelThing]
	roundTrip(t, at, &aout)
	if !reflect.DeepEqual(aout.opts, o) {
		t.Fatalf("actor options changed on the wire:\n got %+v\nwant %+v", aout.opts, o)
	}
}

func TestTravelTask(t *testing.T) {
	withOpts := travelDouble.Options(NumCPUs(0.5), Name("dbl"), MaxRetries(1), LabelSelector("zone=a"), Spread())
	type holder struct {
		T    *Task[int]
		None *Task[int]
	}
	var out holder
	roundTrip(t, holder{T: withOpts}, &out)
	if out.None != nil {
		t.Fatalf("a nil *Task came back as %+v", out.None)
	}
	if out.T == nil || out.T.def != travelDouble.def || out.T.err != nil || out.T.Name() != "travel.unit.double" {
		t.Fatalf("decoded task: %+v", out.T)
	}
	if !reflect.DeepEqual(out.T.opts, withOpts.opts) {
		t.Fatalf("options: got %+v, want %+v", out.T.opts, withOpts.opts)
	}
	// A task with defaults keeps them (1 CPU, 3 retries).
	var plain *Task[int]
	roundTrip(t, travelDouble, &plain)
	if !reflect.DeepEqual(plain.opts, travelDouble.opts) {
		t.Fatalf("default options: got %+v, want %+v", plain.opts, travelDouble.opts)
	}
	// Options applied after the trip still apply.
	if c := plain.Options(NumGPUs(1)); c.err != nil || c.opts.resources["GPU"] != 1 || plain.opts.resources["GPU"] != 0 {
		t.Fatalf("Options on a decoded task: %+v (err %v)", c.opts, c.err)
	}
	// Invalid options fail the copy on the other side too.
	var bad *Task[int]
	roundTrip(t, travelDouble.Options(NumCPUs(-1)), &bad)
	if !errors.Is(bad.err, ErrInvalidOption) {
		t.Fatalf("a task with an invalid option arrived with error %v, want ErrInvalidOption", bad.err)
	}
}

func TestTravelNotRegistered(t *testing.T) {
	ghost := &Task[int]{def: &taskDef{name: "travel.unit.ghost"}, opts: defaultCallOptions()}
	cases := []struct {
		name string
		in   any
		out  func() (string, error) // decodes into a fresh value; its name and the error a use returns
	}{
		{"unknown task", ghost, func() (string, error) {
			var tk *Task[int]
			roundTrip(t, ghost, &tk)
			_, err := tk.def.encodeArgs([]any{1})
			if !errors.Is(tk.err, ErrNotRegistered) {
				return tk.Name(), tk.err
			}
			return tk.Name(), err
		}},
		{"task of another result type", travelDouble, func() (string, error) {
			var tk *Task[string]
			roundTrip(t, travelDouble, &tk)
			return tk.Name(), tk.Options(Name("x")).err
		}},
		{"actor type of another type", travelThingT, func() (string, error) {
			var at *ActorType[int]
			roundTrip(t, travelThingT, &at)
			if _, err := at.def.ctor.encodeArgs(nil); !errors.Is(err, ErrNotRegistered) {
				t.Errorf("the stand-in constructor: %v", err)
			}
			return at.Class(), at.err
		}},
		{"method of another result type", travelThingN, func() (string, error) {
			var m *Method[travelThing, string]
			roundTrip(t, travelThingN, &m)
			_, err := m.def.encodeArgs(nil)
			return m.actor.class + "." + m.def.name, err
		}},
		{"method on another actor type", travelThingN, func() (string, error) {
			var m *Method[int, int]
			roundTrip(t, travelThingN, &m)
			_, err := m.def.encodeArgs(nil)
			return m.actor.class + "." + m.def.name, err
		}},
		{"unknown method", &Method[travelThing, int]{actor: travelThingT.def, def: &taskDef{name: "Gone"}}, func() (string, error) {
			var m *Method[travelThing, int]
			roundTrip(t, &Method[travelThing, int]{actor: travelThingT.def, def: &taskDef{name: "Gone"}}, &m)
			_, err := m.def.encodeArgs(nil)
			return m.actor.class + "." + m.def.name, err
		}},
	}
	for _, tc := range cases {
		name, err := tc.out()
		if !errors.Is(err, ErrNotRegistered) || !errors.Is(err, ErrBadCall) {
			t.Errorf("%s: error %v, want ErrNotRegistered and ErrBadCall", tc.name, err)
		}
		if name == "" {
			t.Errorf("%s: the decoded value lost its name", tc.name)
		}
	}
	// A stand-in passed on is looked up again by the next receiver.
	var tk *Task[int]
	roundTrip(t, &Task[int]{def: &taskDef{name: "travel.unit.double", err: errs.NotRegistered("x")}, opts: defaultCallOptions(), err: errs.NotRegistered("x")}, &tk)
	if tk.err != nil || tk.def != travelDouble.def {
		t.Fatalf("a not-registered task passed on to a binary that has it: %+v", tk)
	}
}

func TestTravelMalformed(t *testing.T) {
	// A value of another kind, or of another extension, is a decoding
	// error (a type error in the data, not a registration question).
	b, err := msgpack.Marshal(travelDouble)
	if err != nil {
		t.Fatal(err)
	}
	var at *ActorType[travelThing]
	if err := msgpack.Unmarshal(b, &at); err == nil {
		t.Fatal("a task decoded into an *ActorType")
	}
	var pg *PlacementGroup
	if err := msgpack.Unmarshal(b, &pg); err == nil {
		t.Fatal("a task decoded into a *PlacementGroup")
	}
	h, err := msgpack.Marshal(ActorHandle[int]{id: "a1", class: "C"})
	if err != nil {
		t.Fatal(err)
	}
	var tk *Task[int]
	if err := msgpack.Unmarshal(h, &tk); err == nil {
		t.Fatal("an actor handle decoded into a *Task")
	}
	for _, in := range []any{&Task[int]{}, &ActorType[int]{}, &Method[int, int]{}, &PlacementGroup{}} {
		if _, err := msgpack.Marshal(in); err == nil {
			t.Errorf("the zero %T encoded", in)
		}
	}
}

func TestTravelPlacementGroup(t *testing.T) {
	in := &PlacementGroup{id: "pg1", bundles: 3, name: "train"}
	var out *PlacementGroup
	roundTrip(t, in, &out)
	if *out != *in {
		t.Fatalf("placement group: got %+v, want %+v", out, in)
	}
	var none *PlacementGroup
	roundTrip(t, (*PlacementGroup)(nil), &none)
	if none != nil {
		t.Fatalf("a nil *PlacementGroup came back as %+v", none)
	}
}

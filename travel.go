package rayo

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"

	"github.com/rayo-dev/rayo/internal/errs"
	"github.com/rayo-dev/rayo/internal/sched"
)

// Values that travel: Go cannot ship a closure to another process, so a
// registered function, actor type or method crosses the wire by its
// registered name (and a placement group by its ID) and is looked up in
// the receiving binary's registry when it is decoded. A library actor
// handed a user's *Task can then call it, with the options the user set.
//
// Each is msgpack extension travelExtID (1 is an ObjectRef, 2 an
// ActorHandle) whose payload is a wireFunc.
const travelExtID int8 = 3

// The kinds of values a wireFunc carries.
const (
	travelTask uint8 = iota + 1
	travelActorType
	travelMethod
	travelPG
)

var travelKindNames = [...]string{travelTask: "task", travelActorType: "actor type", travelMethod: "actor method", travelPG: "placement group"}

type wireFunc struct {
	Kind   uint8  `msgpack:"k"`
	Name   string `msgpack:"n"`           // task name, actor class, group name
	Method string `msgpack:"m,omitempty"` // method name
	// A placement group's ID and number of bundles.
	ID      string       `msgpack:"id,omitempty"`
	Bundles int          `msgpack:"b,omitempty"`
	Opts    *wireOptions `msgpack:"o,omitempty"`
	// Err carries an invalid option's error (the value fails every use
	// on the other side too).
	Err string `msgpack:"e,omitempty"`
}

// wireOptions is callOptions on the wire: every field of it, so that a
// Task or ActorType behaves the same after the trip (TestWireOptionsCover
// fails when callOptions gains a field that is not carried here).
type wireOptions struct {
	Resources       map[string]float64       `msgpack:"res,omitempty"`
	MaxRetries      int                      `msgpack:"mr"`
	RetryExceptions bool                     `msgpack:"re,omitempty"`
	Name            string                   `msgpack:"name,omitempty"`
	Strategy        sched.Strategy           `msgpack:"st"`
	Namespace       string                   `msgpack:"ns,omitempty"`
	Detached        bool                     `msgpack:"det,omitempty"`
	GetIfExists     bool                     `msgpack:"gie,omitempty"`
	MaxRestarts     int                      `msgpack:"mrs,omitempty"`
	MaxTaskRetries  int                      `msgpack:"mtr,omitempty"`
	MaxConcurrency  int                      `msgpack:"mc,omitempty"`
	PG              string                   `msgpack:"pg,omitempty"`
	PGBundle        int                      `msgpack:"pgb,omitempty"`
	Labels          []sched.LabelRequirement `msgpack:"lab,omitempty"`
	Set             optionKind               `msgpack:"set,omitempty"`
	Env             map[string]string        `msgpack:"env,omitempty"`
	Groups          map[string]int           `msgpack:"cgs,omitempty"`
	Group           string                   `msgpack:"cg,omitempty"`
	Backpressure    int                      `msgpack:"bp,omitempty"`
}

func toWireOptions(o callOptions) *wireOptions {
	return &wireOptions{Resources: o.resources, MaxRetries: o.maxRetries, RetryExceptions: o.retryExceptions,
		Name: o.name, Strategy: o.strategy, Namespace: o.namespace, Detached: o.detached, GetIfExists: o.getIfExists,
		MaxRestarts: o.maxRestarts, MaxTaskRetries: o.maxTaskRetries, MaxConcurrency: o.maxConcurrency,
		PG: o.pg, PGBundle: o.pgBundle, Labels: o.labels, Set: o.set, Env: o.env,
		Groups: o.groups, Group: o.group, Backpressure: o.streamBackpressure}
}

func (w *wireOptions) callOptions() callOptions {
	o := callOptions{resources: w.Resources, maxRetries: w.MaxRetries, retryExceptions: w.RetryExceptions,
		name: w.Name, strategy: w.Strategy, namespace: w.Namespace, detached: w.Detached, getIfExists: w.GetIfExists,
		maxRestarts: w.MaxRestarts, maxTaskRetries: w.MaxTaskRetries, maxConcurrency: w.MaxConcurrency,
		pg: w.PG, pgBundle: w.PGBundle, labels: w.Labels, set: w.Set, env: w.Env,
		groups: w.Groups, group: w.Group, streamBackpressure: w.Backpressure}
	if o.resources == nil {
		o.resources = map[string]float64{} // options write into it
	}
	return o
}

// optionsErr is the error a value's invalid options carry across: the
// not-registered error is not carried, the receiver looks the name up
// afresh.
func optionsErr(err error) string {
	if err == nil || errors.Is(err, errs.ErrNotRegistered) {
		return ""
	}
	return err.Error()
}

func carriedErr(text string) error {
	if text == "" {
		return nil
	}
	return fmt.Errorf("%w: %s", errs.ErrInvalidOption, strings.TrimPrefix(text, errs.ErrInvalidOption.Error()+": "))
}

func encodeTravel(enc *msgpack.Encoder, w *wireFunc) error {
	payload, err := msgpack.Marshal(w)
	if err != nil {
		return err
	}
	if err := enc.EncodeExtHeader(travelExtID, len(payload)); err != nil {
		return err
	}
	_, err = enc.Writer().Write(payload)
	return err
}

// decodeTravel reads a value of the given kind; nil for msgpack nil.
func decodeTravel(dec *msgpack.Decoder, kind uint8) (*wireFunc, error) {
	if c, err := dec.PeekCode(); err == nil && c == msgpcode.Nil {
		return nil, dec.DecodeNil()
	}
	id, n, err := dec.DecodeExtHeader()
	if err != nil {
		return nil, err
	}
	if id != travelExtID {
		return nil, fmt.Errorf("rayo: msgpack extension %d is not a %s", id, travelKindNames[kind])
	}
	payload := make([]byte, n)
	if err := dec.ReadFull(payload); err != nil {
		return nil, err
	}
	var w wireFunc
	if err := msgpack.Unmarshal(payload, &w); err != nil || w.Name == "" && w.Kind != travelPG {
		return nil, fmt.Errorf("rayo: malformed %s", travelKindNames[kind])
	}
	if w.Kind != kind {
		name := "something else"
		if int(w.Kind) < len(travelKindNames) && w.Kind != 0 {
			name = "a " + travelKindNames[w.Kind]
		}
		return nil, fmt.Errorf("rayo: a %s was expected, the value is %s", travelKindNames[kind], name)
	}
	return &w, nil
}

// EncodeMsgpack encodes the task by its registered name and its call
// options (msgpack extension 3), so that it can be passed to a task or an
// actor and called there (Ray passes remote functions by value). A nil
// *Task encodes as nil.
func (t *Task[R]) EncodeMsgpack(enc *msgpack.Encoder) error {
	if t == nil {
		return enc.EncodeNil()
	}
	if t.def == nil {
		return errors.New("rayo: the zero Task refers to no registered function")
	}
	return encodeTravel(enc, &wireFunc{Kind: travelTask, Name: t.def.name, Opts: toWireOptions(t.opts), Err: optionsErr(t.err)})
}

// DecodeMsgpack decodes a task encoded by EncodeMsgpack, finding its
// function in this binary's registry. A name this binary does not
// register, or registers with another result type, does not fail the
// decoding: the task fails every use with ErrNotRegistered.
func (t *Task[R]) DecodeMsgpack(dec *msgpack.Decoder) error {
	w, err := decodeTravel(dec, travelTask)
	if err != nil || w == nil {
		*t = Task[R]{}
		return err
	}
	opts := defaultCallOptions()
	if w.Opts != nil {
		opts = w.Opts.callOptions()
	}
	registry.RLock()
	d := registry.tasks[w.Name]
	registry.RUnlock()
	var nerr error
	switch {
	case d == nil:
		nerr = errs.NotRegistered("no task is registered as %q", w.Name)
	case d.fn.Type().Out(0) != reflect.TypeFor[R]():
		nerr = errs.NotRegistered("task %q is registered as Register[%v], received as a *Task[%v]", w.Name, d.fn.Type().Out(0), reflect.TypeFor[R]())
	}
	if nerr != nil {
		d = &taskDef{name: w.Name, err: nerr}
	}
	*t = Task[R]{def: d, opts: opts, err: nerr}
	if t.err == nil {
		t.err = carriedErr(w.Err)
	}
	return nil
}

// EncodeMsgpack encodes the actor type by its registered class and its
// options (msgpack extension 3), so that another process can create
// actors of it (Ray passes actor classes by value). A nil *ActorType
// encodes as nil.
func (t *ActorType[A]) EncodeMsgpack(enc *msgpack.Encoder) error {
	if t == nil {
		return enc.EncodeNil()
	}
	if t.def == nil {
		return errors.New("rayo: the zero ActorType refers to no registered actor type")
	}
	return encodeTravel(enc, &wireFunc{Kind: travelActorType, Name: t.def.class, Opts: toWireOptions(t.opts), Err: optionsErr(t.err)})
}

// DecodeMsgpack decodes an actor type encoded by EncodeMsgpack. A class
// this binary does not register as an A fails every use (New) with
// ErrNotRegistered.
func (t *ActorType[A]) DecodeMsgpack(dec *msgpack.Decoder) error {
	w, err := decodeTravel(dec, travelActorType)
	if err != nil || w == nil {
		*t = ActorType[A]{}
		return err
	}
	opts := defaultActorOptions()
	if w.Opts != nil {
		opts = w.Opts.callOptions()
	}
	def, nerr := lookupActor[A](w.Name)
	*t = ActorType[A]{def: def, opts: opts, err: nerr}
	if t.err == nil {
		t.err = carriedErr(w.Err)
	}
	return nil
}

// lookupActor finds class in the registry as an actor type of *A; else
// a stand-in definition that fails every call, and the error.
func lookupActor[A any](class string) (*actorDef, error) {
	actorRegistry.RLock()
	def := actorRegistry.byClass[class]
	actorRegistry.RUnlock()
	var err error
	switch want := reflect.TypeFor[*A](); {
	case def == nil:
		err = errs.NotRegistered("no actor class is registered as %q", class)
	case def.typ != want:
		err = errs.NotRegistered("actor class %q is registered for %v, received as an actor type of %v", class, def.typ, want)
	default:
		return def, nil
	}
	return &actorDef{class: class, ctor: &taskDef{name: class, err: err}, methods: map[string]*taskDef{}}, err
}

// EncodeMsgpack encodes the method by its actor class and name (msgpack
// extension 3), so that another process can call it on a handle it holds
// (in Ray, a handle's methods travel with the handle). A nil *Method
// encodes as nil.
func (m *Method[A, R]) EncodeMsgpack(enc *msgpack.Encoder) error {
	if m == nil {
		return enc.EncodeNil()
	}
	if m.actor == nil || m.def == nil {
		return errors.New("rayo: the zero Method refers to no registered method")
	}
	w := &wireFunc{Kind: travelMethod, Name: m.actor.class, Method: m.def.name}
	if m.call != nil {
		// Options set with Method.Options travel with it.
		w.Opts, w.Err = toWireOptions(m.call.opts), optionsErr(m.call.err)
	}
	return encodeTravel(enc, w)
}

// DecodeMsgpack decodes a method encoded by EncodeMsgpack. A method this
// binary does not register on an actor type of A with result R fails
// every call (Remote) with ErrNotRegistered.
func (m *Method[A, R]) DecodeMsgpack(dec *msgpack.Decoder) error {
	w, err := decodeTravel(dec, travelMethod)
	if err != nil || w == nil {
		*m = Method[A, R]{}
		return err
	}
	if w.Method == "" {
		return errors.New("rayo: malformed actor method: no method name")
	}
	def, nerr := lookupActor[A](w.Name)
	var md *taskDef
	if nerr == nil {
		def.mu.RLock()
		md = def.methods[w.Method]
		def.mu.RUnlock()
		switch {
		case md == nil:
			nerr = errs.NotRegistered("actor %s has no method %q", w.Name, w.Method)
		case md.fn.Type().Out(0) != reflect.TypeFor[R]():
			nerr = errs.NotRegistered("method %s.%s is registered as RegisterMethod[%v], received as a *Method[%v, %v]",
				w.Name, w.Method, md.fn.Type().Out(0), reflect.TypeFor[A](), reflect.TypeFor[R]())
		}
	}
	if nerr != nil {
		md = &taskDef{name: w.Method, err: nerr}
	}
	*m = Method[A, R]{actor: def, def: md}
	if w.Opts != nil && nerr == nil {
		m.call = withMethodOptions(w.Opts.callOptions(), nil)
		m.call.err = carriedErr(w.Err)
	}
	return nil
}

// EncodeMsgpack encodes the group by ID, bundle count and name (msgpack
// extension 3): a task or actor that receives it can wait for it, run
// work in it (InPlacementGroup) or remove it, as with a Ray
// PlacementGroup passed to a task. A nil *PlacementGroup encodes as nil.
func (pg *PlacementGroup) EncodeMsgpack(enc *msgpack.Encoder) error {
	if pg == nil {
		return enc.EncodeNil()
	}
	if pg.id == "" {
		return errors.New("rayo: the zero PlacementGroup refers to no group")
	}
	return encodeTravel(enc, &wireFunc{Kind: travelPG, Name: pg.name, ID: pg.id, Bundles: pg.bundles})
}

// DecodeMsgpack decodes a group encoded by EncodeMsgpack.
func (pg *PlacementGroup) DecodeMsgpack(dec *msgpack.Decoder) error {
	w, err := decodeTravel(dec, travelPG)
	if err != nil || w == nil {
		*pg = PlacementGroup{}
		return err
	}
	if w.ID == "" || w.Bundles < 1 {
		return errors.New("rayo: malformed placement group")
	}
	*pg = PlacementGroup{id: w.ID, bundles: w.Bundles, name: w.Name}
	return nil
}

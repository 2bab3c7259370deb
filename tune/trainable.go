package tune

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"

	"github.com/rayo-dev/rayo"
)

// Go cannot ship closures, so a trainable reaches the trial actors that
// run it by name: it is registered at package level (a var declaration),
// which every process of the program, driver and workers, runs at start.
// A *Trainable is that registered, passable reference. One registered
// after rayo.Init (a closure made in main) is refused by NewTuner with
// ErrNotRegistered rather than run in the driver.

// ErrDone, returned by a ClassTrainable's Step with its last metrics, says
// the trial finished by itself (Ray's done=True), as io.EOF ends a read.
var ErrDone = errors.New("tune: trial done")

// A ClassTrainable is the class form of a trainable (Ray's Trainable
// class): Tune calls Setup once, then Step per iteration, Save when it
// needs a checkpoint (CheckpointConfig.Frequency, pausing, PBT) and Load
// to restore one. A class trainable can therefore be paused and resumed,
// and exploited by PBT, between any two steps. It may also implement
// Resetter (for ReuseActors) and Cleaner.
type ClassTrainable interface {
	Setup(ctx context.Context, p Params) error
	// Step runs one iteration and returns its metrics; (m, ErrDone) makes
	// m the trial's last result.
	Step(ctx context.Context) (Metrics, error)
	Save(ctx context.Context) (*Checkpoint, error)
	Load(ctx context.Context, c *Checkpoint) error
}

// A Resetter takes new Params in place of a fresh instance (Ray's
// reset_config): with ReuseActors, an actor's instance is reset for its
// next trial instead of being rebuilt. Without Resetter a new instance
// is made, in the same actor.
type Resetter interface {
	Reset(ctx context.Context, p Params) error
}

// A Cleaner releases what Setup took (Ray's cleanup); called when the
// trial stops.
type Cleaner interface {
	Cleanup(ctx context.Context) error
}

// Resources are what each trial's actor holds (Ray's
// tune.with_resources); the default is one CPU.
type Resources struct {
	CPU    float64
	GPU    float64
	Memory int64 // bytes
	Custom map[string]float64
}

func (r Resources) asMap() map[string]float64 {
	m := maps.Clone(r.Custom)
	if m == nil {
		m = map[string]float64{}
	}
	if r.CPU > 0 {
		m["CPU"] = r.CPU
	}
	if r.GPU > 0 {
		m["GPU"] = r.GPU
	}
	if r.Memory > 0 {
		m["memory"] = float64(r.Memory)
	}
	return m
}

// A PlacementGroupFactory makes each trial a placement group of bundles
// (Ray's PlacementGroupFactory): the trial's actor runs in bundle 0 and
// its trainable starts workers in the others (GetContext gives the group),
// as a multi-worker training run does.
type PlacementGroupFactory struct {
	Bundles  []map[string]float64
	Strategy rayo.PlacementStrategy // the zero value is PACK
}

type trainableKind int

const (
	kindFunction trainableKind = iota + 1
	kindClass
)

type trainableDef struct {
	name     string
	kind     trainableKind
	fn       func(ctx context.Context, p Params) error
	newClass func() ClassTrainable
}

var trainables = struct {
	sync.RWMutex
	m map[string]*trainableDef
}{m: map[string]*trainableDef{}}

// Trainable is a registered trainable with the resources each of its
// trials holds. Make one with Function or Class at package level.
type Trainable struct {
	name      string
	kind      trainableKind
	resources Resources
	pg        *PlacementGroupFactory
	err       error
}

// Name is the trainable's registered name.
func (t *Trainable) Name() string { return t.name }

func registerTrainable(def *trainableDef) *Trainable {
	if def.name == "" {
		panic("tune: a trainable needs a name")
	}
	trainables.Lock()
	defer trainables.Unlock()
	if _, taken := trainables.m[def.name]; taken {
		panic(fmt.Sprintf("tune: trainable name %q registered twice", def.name))
	}
	t := &Trainable{name: def.name, kind: def.kind, resources: Resources{CPU: 1}}
	if rayo.IsInitialized() {
		t.err = fmt.Errorf("%w: %q was registered after rayo.Init (a closure made at run time?); register it in a package-level var so that workers have it too", ErrNotRegistered, def.name)
		return t
	}
	trainables.m[def.name] = def
	return t
}

func lookupTrainable(name string) (*trainableDef, error) {
	trainables.RLock()
	def := trainables.m[name]
	trainables.RUnlock()
	if def == nil {
		return nil, fmt.Errorf("%w: %q is not registered in this process; register it in a package-level var", ErrNotRegistered, name)
	}
	return def, nil
}

// Function registers fn as a function trainable (Ray's function
// trainable): it trains with the trial's Params, calls Report with each
// iteration's metrics (and a checkpoint when it has one) and
// GetCheckpoint at its start to resume. When the trial is stopped, its
// ctx is cancelled and Report returns an error: return then. Call it at
// package level.
func Function(name string, fn func(ctx context.Context, p Params) error) *Trainable {
	if fn == nil {
		panic("tune: Function needs a function")
	}
	return registerTrainable(&trainableDef{name: name, kind: kindFunction, fn: fn})
}

// Class registers a class trainable: newFn makes a fresh instance for a
// trial. Call it at package level.
func Class(name string, newFn func() ClassTrainable) *Trainable {
	if newFn == nil {
		panic("tune: Class needs a constructor")
	}
	return registerTrainable(&trainableDef{name: name, kind: kindClass, newClass: newFn})
}

// WithResources returns a copy of t whose trials each hold r (Ray's
// tune.with_resources).
func (t *Trainable) WithResources(r Resources) *Trainable {
	c := *t
	c.resources = r
	c.resources.Custom = maps.Clone(r.Custom)
	c.pg = nil
	if r.CPU < 0 || r.GPU < 0 || r.Memory < 0 {
		c.err = fmt.Errorf("%w: negative resources %+v", ErrInvalidConfig, r)
	}
	return &c
}

// WithPlacementGroup returns a copy of t whose trials are each a
// placement group of f's bundles (Ray's PlacementGroupFactory).
func (t *Trainable) WithPlacementGroup(f PlacementGroupFactory) *Trainable {
	c := *t
	if len(f.Bundles) == 0 {
		c.err = fmt.Errorf("%w: a placement group factory needs at least one bundle", ErrInvalidConfig)
		return &c
	}
	f.Bundles = cloneBundles(f.Bundles)
	c.pg = &f
	c.resources = Resources{Custom: f.Bundles[0]}
	return &c
}

func cloneBundles(bs []map[string]float64) []map[string]float64 {
	out := make([]map[string]float64, len(bs))
	for i, b := range bs {
		out[i] = maps.Clone(b)
	}
	return out
}

// demand is what one trial holds in all: its actor's resources, or its
// placement group's bundles summed.
func (t *Trainable) demand() map[string]float64 {
	if t.pg == nil {
		return t.resources.asMap()
	}
	sum := map[string]float64{}
	for _, b := range t.pg.Bundles {
		for k, v := range b {
			sum[k] += v
		}
	}
	return sum
}

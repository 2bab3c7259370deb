package train

import (
	"context"
	"fmt"
	"sync"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/tune"
)

// Config is what a training loop is given (Ray's train_loop_config): the
// trainer's LoopConfig as it arrives in the worker (msgpack: numbers are
// int64 or float64; use the accessors). It is Tune's Params, so a trial's
// sampled parameters can be a trainer's config as they are.
type Config = tune.Params

// Go cannot ship closures, so a training loop reaches the workers by
// name: it is registered at package level (a var declaration), which
// every process of the program, driver and workers, runs at start. A
// *Loop is that registered, passable reference; one registered after
// rayo.Init (a closure made in main) is refused by Fit with
// ErrNotRegistered rather than run in the driver.

// Loop is a registered training loop (Ray's train_loop_per_worker).
type Loop struct {
	name string
	err  error
}

// Name is the loop's registered name.
func (l *Loop) Name() string { return l.name }

var loops = struct {
	sync.RWMutex
	m map[string]func(context.Context, Config) error
}{m: map[string]func(context.Context, Config) error{}}

// RegisterLoop registers fn as a training loop under name. Every worker
// runs fn(ctx, cfg); ctx gives GetContext, Report, GetCheckpoint and
// DatasetShard. Call it at package level. A name registered twice panics
// (a programming error that shows at start-up).
func RegisterLoop(name string, fn func(ctx context.Context, cfg Config) error) *Loop {
	if name == "" || fn == nil {
		panic("train: RegisterLoop needs a name and a function")
	}
	loops.Lock()
	defer loops.Unlock()
	if _, taken := loops.m[name]; taken {
		panic(fmt.Sprintf("train: a training loop named %q is already registered", name))
	}
	if rayo.IsInitialized() {
		return &Loop{name: name, err: fmt.Errorf("%w: %q was registered after rayo.Init (a closure made at run time?); register it in a package-level var so that workers have it too", ErrNotRegistered, name)}
	}
	loops.m[name] = fn
	return &Loop{name: name}
}

func lookupLoop(name string) (func(context.Context, Config) error, error) {
	loops.RLock()
	fn := loops.m[name]
	loops.RUnlock()
	if fn == nil {
		return nil, fmt.Errorf("%w: %q is not registered in this process", ErrNotRegistered, name)
	}
	return fn, nil
}

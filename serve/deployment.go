package serve

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/rayo-dev/rayo"
)

// Go cannot ship closures, so a deployment reaches the replicas that run
// it by name: Deployment registers the type and its constructor at
// package level, which every process of the program runs at start.

// DeploymentConfig is a deployment's settings, with Ray Serve's names and
// defaults.
type DeploymentConfig struct {
	// NumReplicas is the fixed number of replicas (default 1), unless
	// Autoscaling is set.
	NumReplicas int
	// Autoscaling scales the replicas with the load (Ray's
	// autoscaling_config): MinReplicas, MaxReplicas, InitialReplicas,
	// TargetOngoingRequests (2), LookBackPeriod (30 s), UpscaleDelay
	// (30 s), DownscaleDelay (600 s), DownscaleToZeroDelay, the upscaling
	// and downscaling factors.
	Autoscaling *AutoscalingConfig
	// MaxOngoingRequests is how many requests a replica runs at once
	// (default 5, as Ray's max_ongoing_requests).
	MaxOngoingRequests int
	// MaxQueuedRequests is how many requests a proxy holds for the
	// deployment while every replica is at MaxOngoingRequests, before it
	// answers 503 (Ray's max_queued_requests). 0, the default, answers
	// 503 at once; -1 waits without a bound (Ray's default), up to the
	// request timeout. Handles always wait.
	MaxQueuedRequests int
	// Resources each replica holds: CPUs (default 1), GPUs, memory,
	// custom resources.
	NumCPUs, NumGPUs float64
	Memory           int64
	Resources        map[string]float64
	// UserConfig is delivered to the replica's Reconfigure method (if its
	// type has one) when it starts and whenever it changes, without a
	// restart.
	UserConfig any
	// HealthCheckPeriod and HealthCheckTimeout (defaults 10 s and 30 s,
	// as Ray): a replica whose check fails or times out is replaced.
	HealthCheckPeriod, HealthCheckTimeout time.Duration
	// GracefulShutdownTimeout bounds how long a stopping replica drains
	// its requests (default 20 s).
	GracefulShutdownTimeout time.Duration
	// PlacementGroupBundles, if set, gives each replica its own
	// placement group of these bundles (Ray's placement_group_bundles),
	// reserved all together with PlacementGroupStrategy (default PACK).
	// The replica runs in bundle 0, which must hold its NumCPUs, NumGPUs,
	// Memory and Resources; its code places more work in the other
	// bundles through GetReplicaContext's PlacementGroup.
	PlacementGroupBundles  []map[string]float64
	PlacementGroupStrategy rayo.PlacementStrategy
	// StreamResponses makes the deployment's HTTP responses stream: each
	// Flush of the ResponseWriter (http.Flusher) reaches the client at
	// once (chunked transfer, server-sent events). Off, a response is
	// sent whole when the handler returns, which is faster.
	StreamResponses bool
}

func (c *DeploymentConfig) withDefaults() {
	if c.NumReplicas == 0 {
		c.NumReplicas = 1
	}
	if c.MaxOngoingRequests == 0 {
		c.MaxOngoingRequests = 5
	}
	if c.NumCPUs == 0 {
		c.NumCPUs = 1
	}
	if c.HealthCheckPeriod == 0 {
		c.HealthCheckPeriod = 10 * time.Second
	}
	if c.HealthCheckTimeout == 0 {
		c.HealthCheckTimeout = 30 * time.Second
	}
	if c.GracefulShutdownTimeout == 0 {
		c.GracefulShutdownTimeout = 20 * time.Second
	}
}

func (c DeploymentConfig) validate(name string) error {
	if c.Autoscaling != nil {
		if err := c.Autoscaling.WithDefaults().Validate(); err != nil {
			return fmt.Errorf("%w: deployment %s: autoscaling: %w", ErrInvalidConfig, name, err)
		}
	}
	switch {
	case c.NumReplicas < 0:
		return fmt.Errorf("%w: deployment %s: NumReplicas %d is negative", ErrInvalidConfig, name, c.NumReplicas)
	case c.MaxQueuedRequests < -1:
		return fmt.Errorf("%w: deployment %s: MaxQueuedRequests %d: want -1 (no bound) or more", ErrInvalidConfig, name, c.MaxQueuedRequests)
	case c.MaxOngoingRequests < 0:
		return fmt.Errorf("%w: deployment %s: MaxOngoingRequests %d is negative", ErrInvalidConfig, name, c.MaxOngoingRequests)
	case c.NumCPUs < 0 || c.NumGPUs < 0 || c.Memory < 0:
		return fmt.Errorf("%w: deployment %s: negative resources", ErrInvalidConfig, name)
	}
	return c.validateBundles(name)
}

// validateBundles checks the placement group a replica gets: bundles
// that can be reserved, and a bundle 0 that holds the replica itself (with
// its default resources, as Ray checks).
func (c DeploymentConfig) validateBundles(name string) error {
	if c.PlacementGroupStrategy < rayo.PACK || c.PlacementGroupStrategy > rayo.STRICT_SPREAD {
		return fmt.Errorf("%w: deployment %s: unknown PlacementGroupStrategy %v", ErrInvalidConfig, name, c.PlacementGroupStrategy)
	}
	if c.PlacementGroupBundles == nil {
		return nil
	}
	if len(c.PlacementGroupBundles) == 0 {
		return fmt.Errorf("%w: deployment %s: PlacementGroupBundles is empty (leave it nil for no placement group)", ErrInvalidConfig, name)
	}
	for i, b := range c.PlacementGroupBundles {
		some := false
		for k, v := range b {
			if v < 0 || k == "" {
				return fmt.Errorf("%w: deployment %s: PlacementGroupBundles[%d]: %q %v: want a named resource and an amount of at least 0", ErrInvalidConfig, name, i, k, v)
			}
			some = some || v > 0
		}
		if !some {
			return fmt.Errorf("%w: deployment %s: PlacementGroupBundles[%d] is empty", ErrInvalidConfig, name, i)
		}
	}
	c.withDefaults()
	first := c.PlacementGroupBundles[0]
	need := replicaResources(c.NumCPUs, c.NumGPUs, c.Memory, c.Resources)
	for _, k := range slices.Sorted(maps.Keys(need)) {
		if need[k] > first[k] {
			return fmt.Errorf("%w: deployment %s: the replica runs in PlacementGroupBundles[0], which must hold its resources: %s %v > %v", ErrInvalidConfig, name, k, need[k], first[k])
		}
	}
	return nil
}

// replicaResources are what a replica's actor holds, by Ray's names (the
// amounts above 0).
func replicaResources(cpus, gpus float64, memory int64, custom map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range custom {
		if v > 0 {
			out[k] = v
		}
	}
	for k, v := range map[string]float64{"CPU": cpus, "GPU": gpus, "memory": float64(memory)} {
		if v > 0 {
			out[k] = v
		}
	}
	return out
}

// Reconfigurer is a deployment type that takes its UserConfig at start
// and on change (Ray's reconfigure).
type Reconfigurer interface {
	Reconfigure(ctx context.Context, userConfig []byte) error
}

// Closer is a deployment type that releases what its constructor made
// when a replica stops, after its requests drained (Ray's __del__).
type Closer interface {
	Close(ctx context.Context) error
}

// HealthChecker is a deployment type with its own health check (Ray's
// check_health); an error marks the replica unhealthy and it is replaced.
type HealthChecker interface {
	CheckHealth(ctx context.Context) error
}

// deploymentDef is a registration.
type deploymentDef struct {
	name string
	typ  reflect.Type // *T
	ctor reflect.Value
	// ctorIn are the constructor's parameter types after an optional
	// context.Context.
	ctorIn  []reflect.Type
	withCtx bool
	methods map[string]*methodDef
}

// methodDef is a method callable through a handle: func(ctx?, args...)
// (R, error) or (R) or (error). With stream, R is an iter.Seq2[T, error]
// whose items the caller takes one by one (Stream, not Call).
type methodDef struct {
	fn      reflect.Value
	in      []reflect.Type
	withCtx bool
	hasOut  bool
	hasErr  bool
	stream  bool
}

var registry = struct {
	sync.RWMutex
	m map[string]*deploymentDef
}{m: map[string]*deploymentDef{}}

var (
	ctxType   = reflect.TypeFor[context.Context]()
	errorType = reflect.TypeFor[error]()
)

// Deployment is a registered deployment of type T.
type Deployment[T any] struct {
	def *deploymentDef
	cfg DeploymentConfig
	err error
}

// Name is the deployment's registered name.
func (d *Deployment[T]) Name() string { return d.def.name }

// NewDeployment registers T as a deployment named name (Ray's
// @serve.deployment). ctor builds a replica's instance, once per replica
// (load the model there): func([ctx context.Context,] args...) (*T,
// error) or (*T). If *T is an http.Handler, the deployment can be an
// application's HTTP ingress; its exported methods of the form
// func([ctx,] args...) (R, error) are callable through handles (Call),
// and those returning an iter.Seq2[T, error] stream their items (Stream).
// Call it at
// package level: it panics on a malformed constructor or a name taken,
// programming errors that show at start-up.
func NewDeployment[T any](name string, ctor any, cfg DeploymentConfig) *Deployment[T] {
	if name == "" {
		panic("serve: a deployment needs a name")
	}
	def := &deploymentDef{name: name, typ: reflect.TypeFor[*T](), ctor: reflect.ValueOf(ctor), methods: map[string]*methodDef{}}
	ct := def.ctor.Type()
	if def.ctor.Kind() != reflect.Func || ct.NumOut() < 1 || ct.NumOut() > 2 || ct.Out(0) != def.typ || (ct.NumOut() == 2 && ct.Out(1) != errorType) || ct.IsVariadic() {
		panic(fmt.Sprintf("serve: NewDeployment(%q): the constructor must be func([ctx,] args...) (*%v[, error])", name, reflect.TypeFor[T]()))
	}
	for i := range ct.NumIn() {
		if i == 0 && ct.In(0) == ctxType {
			def.withCtx = true
			continue
		}
		def.ctorIn = append(def.ctorIn, ct.In(i))
	}
	for i := range def.typ.NumMethod() {
		m := def.typ.Method(i)
		if md := newMethodDef(m); md != nil {
			def.methods[m.Name] = md
		}
	}
	d := &Deployment[T]{def: def, cfg: cfg}
	if err := cfg.validate(name); err != nil {
		d.err = err
	}
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.m[name]; dup {
		panic(fmt.Sprintf("serve: deployment name %q registered twice", name))
	}
	if rayo.IsInitialized() {
		d.err = fmt.Errorf("%w: %q was registered after rayo.Init; register it in a package-level var so that replicas have it too", ErrNotRegistered, name)
		return d
	}
	registry.m[name] = def
	return d
}

// newMethodDef describes a method usable through a handle, nil for any
// other (ServeHTTP and the lifecycle methods included).
func newMethodDef(m reflect.Method) *methodDef {
	switch m.Name {
	case "ServeHTTP", "Reconfigure", "CheckHealth", "Close":
		return nil
	}
	t := m.Type // receiver first
	md := &methodDef{fn: m.Func}
	for i := 1; i < t.NumIn(); i++ {
		if i == 1 && t.In(1) == ctxType {
			md.withCtx = true
			continue
		}
		md.in = append(md.in, t.In(i))
	}
	switch t.NumOut() {
	case 1:
		md.hasErr = t.Out(0) == errorType
		md.hasOut = !md.hasErr
	case 2:
		if t.Out(1) != errorType {
			return nil
		}
		md.hasOut, md.hasErr = true, true
	default:
		return nil
	}
	md.stream = md.hasOut && isSeq2(t.Out(0))
	return md
}

// isSeq2 reports whether t has iter.Seq2[T, error]'s shape.
func isSeq2(t reflect.Type) bool {
	if t.Kind() != reflect.Func || t.NumIn() != 1 || t.NumOut() != 0 {
		return false
	}
	y := t.In(0)
	return y.Kind() == reflect.Func && y.NumIn() == 2 && y.In(1) == errorType && y.NumOut() == 1 && y.Out(0).Kind() == reflect.Bool
}

// method finds a method callable through a handle with nargs arguments,
// by Call (stream false) or by Stream.
func (def *deploymentDef) method(name string, nargs int, stream bool) (*methodDef, error) {
	md := def.methods[name]
	switch {
	case md == nil:
		return nil, fmt.Errorf("%w: %s has no method %q callable through a handle", ErrNoMethod, def.name, name)
	case md.stream && !stream:
		return nil, fmt.Errorf("%w: %s.%s streams its results: call it with Stream, not Call", ErrNoMethod, def.name, name)
	case !md.stream && stream:
		return nil, fmt.Errorf("%w: %s.%s does not stream (it returns no iter.Seq2[T, error]): call it with Call, not Stream", ErrNoMethod, def.name, name)
	case nargs != len(md.in):
		return nil, fmt.Errorf("%w: %s.%s takes %d arguments, got %d", ErrNoMethod, def.name, name, len(md.in), nargs)
	}
	return md, nil
}

func lookupDeployment(name string) (*deploymentDef, error) {
	registry.RLock()
	defer registry.RUnlock()
	def := registry.m[name]
	if def == nil {
		return nil, fmt.Errorf("%w: %q is not registered in this binary", ErrNotRegistered, name)
	}
	return def, nil
}

// Options returns a copy of d with cfg's non-zero fields set (Ray's
// .options()).
func (d *Deployment[T]) Options(cfg DeploymentConfig) *Deployment[T] {
	c := *d
	setIfGiven(&c.cfg.NumReplicas, cfg.NumReplicas)
	setIfGiven(&c.cfg.MaxOngoingRequests, cfg.MaxOngoingRequests)
	setIfGiven(&c.cfg.MaxQueuedRequests, cfg.MaxQueuedRequests)
	setIfGiven(&c.cfg.NumCPUs, cfg.NumCPUs)
	setIfGiven(&c.cfg.NumGPUs, cfg.NumGPUs)
	setIfGiven(&c.cfg.Memory, cfg.Memory)
	setIfGiven(&c.cfg.HealthCheckPeriod, cfg.HealthCheckPeriod)
	setIfGiven(&c.cfg.HealthCheckTimeout, cfg.HealthCheckTimeout)
	setIfGiven(&c.cfg.GracefulShutdownTimeout, cfg.GracefulShutdownTimeout)
	setIfGiven(&c.cfg.StreamResponses, cfg.StreamResponses)
	setIfGiven(&c.cfg.PlacementGroupStrategy, cfg.PlacementGroupStrategy) // PACK is the zero value
	if cfg.Resources != nil {
		c.cfg.Resources = cfg.Resources
	}
	if cfg.UserConfig != nil {
		c.cfg.UserConfig = cfg.UserConfig
	}
	if cfg.PlacementGroupBundles != nil {
		c.cfg.PlacementGroupBundles = cfg.PlacementGroupBundles
	}
	if cfg.Autoscaling != nil {
		a := *cfg.Autoscaling
		c.cfg.Autoscaling = &a
	}
	if err := c.cfg.validate(d.def.name); err != nil && c.err == nil {
		c.err = err
	}
	return &c
}

// setIfGiven sets *dst to v unless v is its type's zero value (not
// given in an Options config).
func setIfGiven[T comparable](dst *T, v T) {
	var zero T
	if v != zero {
		*dst = v
	}
}

// Application is a deployment bound with its constructor's arguments
// (Ray's Application, from .bind()). An argument that is itself an
// Application becomes a handle to that deployment in the replica: the
// two are deployed together.
type Application struct {
	deployment string
	cfg        DeploymentConfig
	args       []any
	err        error
}

// Bind binds the constructor's arguments (Ray's .bind()).
func (d *Deployment[T]) Bind(args ...any) *Application {
	a := &Application{deployment: d.def.name, cfg: d.cfg, args: args, err: d.err}
	if a.err == nil && len(args) != len(d.def.ctorIn) {
		a.err = fmt.Errorf("%w: deployment %s's constructor takes %d arguments, Bind got %d", ErrInvalidConfig, d.def.name, len(d.def.ctorIn), len(args))
	}
	a.cfg.withDefaults()
	return a
}

// newInstance builds a replica's instance from its encoded arguments.
func (def *deploymentDef) newInstance(ctx context.Context, args []msgpack.RawMessage) (any, error) {
	if len(args) != len(def.ctorIn) {
		return nil, fmt.Errorf("%w: %s's constructor takes %d arguments, got %d", ErrInvalidConfig, def.name, len(def.ctorIn), len(args))
	}
	in := make([]reflect.Value, 0, len(args)+1)
	if def.withCtx {
		in = append(in, reflect.ValueOf(ctx))
	}
	in, err := decodeArgs(in, def.ctorIn, args)
	if err != nil {
		return nil, fmt.Errorf("%w: %s's constructor %w", ErrInvalidConfig, def.name, err)
	}
	out, err := callGuarded(def.ctor, in)
	if err != nil {
		return nil, err
	}
	if len(out) == 2 && !out[1].IsNil() {
		return nil, out[1].Interface().(error)
	}
	return out[0].Interface(), nil
}

// decodeArgs appends args, decoded into types, to in.
func decodeArgs(in []reflect.Value, types []reflect.Type, args []msgpack.RawMessage) ([]reflect.Value, error) {
	for i, raw := range args {
		v := reflect.New(types[i])
		if err := msgpack.Unmarshal(raw, v.Interface()); err != nil {
			return nil, fmt.Errorf("argument %d: %v", i, err)
		}
		in = append(in, v.Elem())
	}
	return in, nil
}

// callGuarded calls fn, turning a panic into an error.
func callGuarded(fn reflect.Value, in []reflect.Value) (out []reflect.Value, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("serve: panic: %v", p)
		}
	}()
	return fn.Call(in), nil
}

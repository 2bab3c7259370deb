package serve

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"sync/atomic"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/rayo-dev/rayo"
)

// A replica is an actor ("rayo.serve.replica") running one instance of a
// deployment's type. Requests run in its default group, at most
// MaxOngoingRequests at once (the actor's MaxConcurrency); health
// checks, reconfiguration, statistics and draining run in their own
// group, so that they never wait behind requests.

// replicaSpec is what a replica is made with.
type replicaSpec struct {
	App        string               `msgpack:"a"`
	Deployment string               `msgpack:"d"`
	ID         string               `msgpack:"i"`
	Version    string               `msgpack:"v"`
	Args       []msgpack.RawMessage `msgpack:"args"`
	UserConfig []byte               `msgpack:"uc,omitempty"` // JSON
}

type replica struct {
	spec    replicaSpec
	def     *deploymentDef
	inst    any
	http    http.Handler
	ongoing atomic.Int64
	total   atomic.Int64
}

// replicaStats is what a replica reports to the controller.
type replicaStats struct {
	Ongoing int64    `msgpack:"o"`
	Total   int64    `msgpack:"t"`
	Models  []string `msgpack:"m,omitempty"` // multiplexed models loaded
	Version string   `msgpack:"v"`
}

const controlGroup = "control"

var (
	replicaType        = rayo.RegisterActor[replica]("rayo.serve.replica", newReplica)
	replicaHTTP        = rayo.RegisterMethod[*httpResponse](replicaType, "http", (*replica).handleHTTP)
	replicaCall        = rayo.RegisterMethod[msgpack.RawMessage](replicaType, "call", (*replica).call)
	replicaCheck       = rayo.RegisterMethod[bool](replicaType, "check", (*replica).check, rayo.ConcurrencyGroup(controlGroup))
	replicaReconfigure = rayo.RegisterMethod[bool](replicaType, "reconfigure", (*replica).reconfigure, rayo.ConcurrencyGroup(controlGroup))
	replicaStatsM      = rayo.RegisterMethod[replicaStats](replicaType, "stats", (*replica).stats, rayo.ConcurrencyGroup(controlGroup))
	replicaDrain       = rayo.RegisterMethod[bool](replicaType, "drain", (*replica).drain, rayo.ConcurrencyGroup(controlGroup))
	replicaClose       = rayo.RegisterMethod[bool](replicaType, "close", (*replica).close, rayo.ConcurrencyGroup(controlGroup))
)

// close runs the instance's Close (Closer) before the replica is killed.
func (r *replica) close(ctx context.Context) (bool, error) {
	if c, ok := r.inst.(Closer); ok {
		if _, err := callGuarded(reflect.ValueOf(c.Close), []reflect.Value{reflect.ValueOf(ctx)}); err != nil {
			return false, err
		}
	}
	return true, nil
}

// thisReplica is the replica this process runs (a replica is an actor,
// each in its own process), for the metrics of what its constructor
// makes (Multiplexed).
var thisReplica atomic.Pointer[replicaSpec]

func newReplica(ctx context.Context, spec replicaSpec) (*replica, error) {
	thisReplica.Store(&spec)
	def, err := lookupDeployment(spec.Deployment)
	if err != nil {
		return nil, err
	}
	if err := setReplicaContext(ctx, spec); err != nil {
		return nil, err
	}
	inst, err := def.newInstance(ctx, spec.Args)
	if err != nil {
		return nil, err
	}
	r := &replica{spec: spec, def: def, inst: inst}
	r.http, _ = inst.(http.Handler)
	if _, err := r.reconfigure(ctx, spec.UserConfig); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *replica) handleHTTP(ctx context.Context, q *httpRequest) (*httpResponse, error) {
	if r.http == nil {
		return &httpResponse{Status: http.StatusInternalServerError, Body: []byte(fmt.Sprintf("serve: deployment %s does not serve HTTP (its type is not an http.Handler)", r.def.name))}, nil
	}
	start := r.begin()
	resp := serveOne(ctx, r.http, q)
	r.end(start, resp.Status >= http.StatusInternalServerError)
	return resp, nil
}

// begin counts a request in; end counts it out and records it in the
// replica's metrics.
func (r *replica) begin() time.Time {
	r.ongoing.Add(1)
	r.total.Add(1)
	return time.Now()
}

func (r *replica) end(start time.Time, failed bool) {
	r.ongoing.Add(-1)
	observeReplicaRequest(r.spec.App, r.spec.Deployment, time.Since(start), failed)
}

// call runs a method by name with msgpack arguments and returns its
// msgpack result.
func (r *replica) call(ctx context.Context, method string, modelID string, args callArgs) (_ msgpack.RawMessage, err error) {
	md, in, err := r.prepare(withModelID(ctx, modelID), method, args, false)
	if err != nil {
		return nil, err
	}
	start := r.begin()
	defer func() { r.end(start, err != nil) }()
	out, err := callGuarded(md.fn, in)
	if err != nil {
		return nil, err
	}
	if err := md.failed(out); err != nil {
		return nil, err
	}
	if !md.hasOut {
		return msgpack.Marshal(nil)
	}
	return msgpack.Marshal(out[0].Interface())
}

// prepare finds the method that call (stream false) or callStream runs
// and makes its arguments: the instance, ctx if it takes one, and args
// decoded.
func (r *replica) prepare(ctx context.Context, method string, ca callArgs, stream bool) (*methodDef, []reflect.Value, error) {
	md, err := r.def.method(method, len(ca.Raw), stream)
	if err != nil {
		return nil, nil, err
	}
	args, err := ca.resolve(ctx)
	if err != nil {
		return nil, nil, err
	}
	in := make([]reflect.Value, 0, len(args)+2)
	in = append(in, reflect.ValueOf(r.inst))
	if md.withCtx {
		in = append(in, reflect.ValueOf(ctx))
	}
	in, err = decodeArgs(in, md.in, args)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s.%s %w", ErrNoMethod, r.def.name, method, err)
	}
	return md, in, nil
}

// failed is the error a call of md returned, if any.
func (md *methodDef) failed(out []reflect.Value) error {
	if md.hasErr {
		if e := out[len(out)-1]; !e.IsNil() {
			return e.Interface().(error)
		}
	}
	return nil
}

func (r *replica) check(ctx context.Context) (bool, error) {
	if hc, ok := r.inst.(HealthChecker); ok {
		if err := hc.CheckHealth(ctx); err != nil {
			return false, err
		}
	}
	return true, nil
}

func (r *replica) reconfigure(ctx context.Context, userConfig []byte) (bool, error) {
	rc, ok := r.inst.(Reconfigurer)
	if !ok || len(userConfig) == 0 {
		return true, nil
	}
	if err := rc.Reconfigure(ctx, userConfig); err != nil {
		return false, err
	}
	return true, nil
}

func (r *replica) stats(context.Context) (replicaStats, error) {
	return replicaStats{Ongoing: r.ongoing.Load(), Total: r.total.Load(), Models: loadedModels(), Version: r.spec.Version}, nil
}

// drainQuiet is how long a draining replica must see no new request
// before it is done: proxies and handles learn of its removal from the
// routes by a long poll, within milliseconds, and a request sent before
// that must not be cut off by the kill.
const drainQuiet = 250 * time.Millisecond

// drain waits until the replica has no request running and none has
// arrived for drainQuiet, or timeout (Ray's graceful shutdown wait loop).
func (r *replica) drain(ctx context.Context, timeout time.Duration) (bool, error) {
	deadline := time.Now().Add(timeout)
	seen, quietSince := r.total.Load(), time.Now()
	for time.Now().Before(deadline) {
		if n := r.total.Load(); n != seen {
			seen, quietSince = n, time.Now()
		}
		if r.ongoing.Load() == 0 && time.Since(quietSince) >= drainQuiet {
			return true, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return r.ongoing.Load() == 0, nil
}

// encodeUserConfig makes a deployment's UserConfig the JSON its
// Reconfigure gets.
func encodeUserConfig(v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	if b, ok := v.([]byte); ok {
		return b, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%w: UserConfig: %v", ErrInvalidConfig, err)
	}
	return b, nil
}

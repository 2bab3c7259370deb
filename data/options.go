package data

import (
	"github.com/rayo-dev/rayo"
)

// mapOptions are a map operator's compute settings (Ray Data's
// map_batches arguments).
type mapOptions struct {
	BatchSize    int                `msgpack:"b"`
	BatchSizeSet bool               `msgpack:"bs"`
	NumCPUs      float64            `msgpack:"c"`
	NumGPUs      float64            `msgpack:"g"`
	Memory       int64              `msgpack:"m"`
	Resources    map[string]float64 `msgpack:"r"`
	MaxConc      int                `msgpack:"x"`  // tasks: at most this many at once; 0: the cluster's CPUs
	MinActors    int                `msgpack:"a0"` // class functions: the pool's size range
	MaxActors    int                `msgpack:"a1"`
	PerActor     int                `msgpack:"p"` // class functions: calls in flight per actor
	err          error
}

// MapOption sets how a transformation's function runs.
type MapOption func(*mapOptions)

// BatchSize sets the rows per batch given to the function (Ray's
// batch_size; default 1024, as Ray's "default"). 0 gives whole blocks.
func BatchSize(n int) MapOption {
	return func(o *mapOptions) {
		if n < 0 {
			o.err = errorf("BatchSize(%d): must be 0 (whole blocks) or more", n)
		}
		o.BatchSize, o.BatchSizeSet = n, true
	}
}

// NumCPUs reserves CPUs for each task or actor (Ray's num_cpus; default
// 1 for tasks, as Ray).
func NumCPUs(n float64) MapOption { return func(o *mapOptions) { o.NumCPUs = n } }

// NumGPUs reserves GPUs for each task or actor (Ray's num_gpus).
func NumGPUs(n float64) MapOption { return func(o *mapOptions) { o.NumGPUs = n } }

// Memory reserves memory for each task or actor (Ray's memory).
func Memory(bytes int64) MapOption { return func(o *mapOptions) { o.Memory = bytes } }

// Resources reserves custom resources for each task or actor (Ray's
// resources).
func Resources(r map[string]float64) MapOption { return func(o *mapOptions) { o.Resources = r } }

// Concurrency sets how a function runs in parallel (Ray's concurrency):
// for a stateful function (a Class) the actor pool's size, from min to
// max actors (min == max: a fixed pool); for a plain function at most max
// tasks at once.
func Concurrency(min, max int) MapOption {
	return func(o *mapOptions) {
		if min < 0 || max < 1 || min > max {
			o.err = errorf("Concurrency(%d, %d): want 0 <= min <= max and max >= 1", min, max)
		}
		o.MinActors, o.MaxActors, o.MaxConc = min, max, max
	}
}

// MaxTasksInFlightPerActor bounds the calls an actor of a pool has at
// once (Ray's max_tasks_in_flight_per_actor; default 2, so that an actor
// has its next batch while it works on one).
func MaxTasksInFlightPerActor(n int) MapOption {
	return func(o *mapOptions) {
		if n < 1 {
			o.err = errorf("MaxTasksInFlightPerActor(%d): must be 1 or more", n)
		}
		o.PerActor = n
	}
}

func newMapOptions(opts []MapOption) mapOptions {
	o := mapOptions{BatchSize: defaultBatchSize, PerActor: 2}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// defaultBatchSize is Ray Data's default batch_size.
const defaultBatchSize = 1024

// compatible reports whether two operators can run in one task: the same
// resources and no concurrency cap of their own.
func (o mapOptions) compatible(p mapOptions) bool {
	return o.NumCPUs == p.NumCPUs && o.NumGPUs == p.NumGPUs && o.Memory == p.Memory &&
		len(o.Resources) == 0 && len(p.Resources) == 0 && o.MaxConc == p.MaxConc
}

// taskOptions are the rayo options of an operator's tasks.
func (op *physOp) taskOptions() []rayo.Option {
	// One block (and its metadata) may wait untaken per task: the
	// executor reserves room for it (see exec.go).
	return append(op.resourceOptions(), rayo.StreamBackpressure(2))
}

// resourceOptions are the resources of an operator's tasks or actors.
func (op *physOp) resourceOptions() []rayo.Option {
	o := op.mopts
	var opts []rayo.Option
	if o.NumCPUs > 0 {
		opts = append(opts, rayo.NumCPUs(o.NumCPUs))
	}
	if o.NumGPUs > 0 {
		opts = append(opts, rayo.NumGPUs(o.NumGPUs))
	}
	if o.Memory > 0 {
		opts = append(opts, rayo.Memory(o.Memory))
	}
	if len(o.Resources) > 0 {
		opts = append(opts, rayo.Resources(o.Resources))
	}
	return opts
}

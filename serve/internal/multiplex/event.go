package multiplex

import (
	"strconv"
	"time"
)

// EventKind says what an Event reports.
type EventKind uint8

// Event kinds. Ray's counterparts: serve_multiplexed_get_model_requests_counter
// counts hits and misses, serve_multiplexed_models_load_counter loads,
// serve_multiplexed_model_load_latency_ms their Duration,
// serve_multiplexed_models_unload_counter and
// serve_multiplexed_model_unload_latency_ms evictions.
const (
	// EventHit: Get or Acquire found the model loaded.
	EventHit EventKind = iota + 1
	// EventMiss: Get or Acquire found the model absent or still loading
	// and waited for its load (one per caller; see EventLoad for loads).
	EventMiss
	// EventLoad: a load succeeded; Duration is the loader's time.
	EventLoad
	// EventLoadError: a load failed; Err says why, Duration is the loader's
	// time. The model is not cached.
	EventLoadError
	// EventEvict: a model was unloaded, as least recently used or at Close;
	// Duration is the unload hook's time and Err its error, if any.
	EventEvict
	// EventOverflow: a load went ahead with the cache at MaxModels because
	// every resident model was in use or loading; Models counts the cache
	// including the new model.
	EventOverflow
)

var eventNames = [...]string{"", "hit", "miss", "load", "load_error", "evict", "overflow"}

func (k EventKind) String() string {
	if int(k) < len(eventNames) && k != 0 {
		return eventNames[k]
	}
	return "EventKind(" + strconv.Itoa(int(k)) + ")"
}

// Event is what OnEvent receives.
type Event struct {
	Kind     EventKind
	ModelID  string
	Duration time.Duration // EventLoad, EventLoadError, EventEvict
	Err      error         // EventLoadError, EventEvict
	// Models is the number of models resident (loaded or loading) just after
	// the event (Ray's serve_num_multiplexed_models gauge).
	Models int
}

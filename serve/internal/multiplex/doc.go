// Package multiplex is the replica side of Serve's model multiplexing: a
// cache that loads models on demand by ID and keeps at most a fixed number
// of them, evicting the least recently used. It follows Ray Serve's "Model
// Multiplexing" (serve.multiplexed with max_num_models_per_replica, default
// 3, -1 for no limit; an LRU eviction that calls the model's unload hook,
// __del__ in Ray) and reports the loaded and loading model IDs so that the
// router can send a request to a replica that already holds its model
// (Ray's multiplexed model ID routing; Ray pushes loading IDs too, so that
// requests reach the replica while it loads).
//
// Where it departs from Ray, and why:
//
//   - Loads of different models run concurrently; Ray serialises every load
//     and unload behind one lock, so one slow model delays all others.
//     Concurrent requests for the same model still share one load.
//   - A load runs in its own goroutine on a context that keeps the first
//     caller's values but not its cancellation: a caller that gives up does
//     not waste the work done for the callers still waiting, nor for the
//     next request for that model, which the router is already sending
//     here. Close cancels loads in flight.
//   - A model in use is never unloaded under a request. Acquire pins the
//     model until its release func runs; Ray evicts the LRU model even if a
//     request is using it. When every resident model is pinned or still
//     loading, a new load goes ahead above the limit (EventOverflow) rather
//     than wait or evict anyway: waiting can deadlock a request that holds
//     one model and needs another, and evicting would free memory the
//     running request still uses. The overflow is bounded by the requests
//     in flight (MaxOngoingRequests) and is trimmed back to the limit as
//     soon as a pin goes (a release, a waiter taking its model) or a load
//     ends.
//   - Get is Ray's behaviour (no pin): the returned model may be unloaded
//     by a later load. Use Acquire when Unload frees what the model needs.
//   - An evicted model's Unload finishes before the same ID is loaded
//     again, so a loader and an unloader never race on one model's files
//     or device memory.
//   - A panicking loader or unload hook is recovered into an error.
//
// There is one lock, Cache.mu. The loader, the unload hook and OnEvent are
// never called with it held.
package multiplex

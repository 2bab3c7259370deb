// Package router chooses a replica of one deployment for each request, as
// Ray Serve's PowerOfTwoChoicesRequestRouter (python/ray/serve/_private/
// request_router/pow_2_router.py; Ray's docs: "Use Custom Algorithm for
// Request Routing" and "Model Multiplexing") does for its proxies and
// deployment handles.
//
// A Router holds the current replica set and an in-flight count per
// replica. Pick takes two distinct replicas at random and reserves a slot
// on the one with fewer requests in flight, never letting a replica go
// above its MaxOngoing (Ray's max_ongoing_requests). The reservation is a
// compare-and-swap on the replica's counter, so the limit holds at every
// moment under any number of concurrent callers; the Ticket that Pick
// returns gives the slot back once.
//
// With a multiplexed model ID (Ray's serve_multiplexed_model_id), Pick
// follows Ray's MultiplexMixin order: first the replicas that have the
// model loaded, then the replicas with the fewest models loaded (where a
// load is least likely to evict another model), then every replica.
// Falling past the first tier is counted as an affinity miss. Between the
// first and second tiers it tries the replica the last miss for the same
// model went to, which is loading it: Ray gets the same effect by making
// concurrent requests for an unmatched model wait (placement.go).
//
// Where Ray differs: Ray's router queues a request and retries with backoff
// while every replica is full, and first waits a short while for a replica
// with the model. Here nothing waits: Pick answers ErrNoCapacity at once
// (the proxy turns that into 503 with Retry-After, and a handle may wait
// on Changed or retry) and ErrNoReplicas when the deployment has none
// (scaled to zero; the caller waits for Changed). Ray also probes replicas
// for their queue length; here the router is the only sender it knows of,
// so its own counts are the queue lengths.
//
// Ongoing reports the in-flight counts for autoscaling (Ray's
// running_requests per replica), including replicas that were removed
// but still have requests running, as Ray's router metrics do until they
// reach zero.
//
// Locking: Pick and Ticket.Done are lock-free (an atomic snapshot of the
// replica set, atomic counters). One mutex serialises Update, Ongoing and
// Stats; there is no other lock, so no lock order to keep.
//
// The package stands alone: no dependency on the rest of serve or on
// rayo's internals.
package router

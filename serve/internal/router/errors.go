package router

import "errors"

var (
	// ErrNoCapacity: every replica is at its MaxOngoing. The caller decides
	// what to do (the proxy answers 503 with Retry-After); Pick never queues.
	ErrNoCapacity = errors.New("router: every replica is at max ongoing requests")

	// ErrNoReplicas: the deployment has no replicas (for instance scaled to
	// zero). The caller may wait on Changed for the next Update.
	ErrNoReplicas = errors.New("router: no replicas")

	// ErrInvalidReplica wraps every error about a bad Replica given to Update.
	ErrInvalidReplica = errors.New("router: invalid replica")
)

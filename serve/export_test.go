package serve

import (
	"context"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/rayo-dev/rayo"
)

// KillReplica kills a replica's actor by name, as a crash would.
func KillReplica(ctx context.Context, name string) error {
	h, err := rayo.GetActor[replica](ctx, name, rayo.Namespace(serveNamespace))
	if err != nil {
		return err
	}
	return rayo.Kill(ctx, h, true)
}

// RestartController kills the controller's actor as a crash would: rayo
// restarts it and it adopts the replicas.
func RestartController(ctx context.Context) error {
	h, err := controller(ctx)
	if err != nil {
		return err
	}
	return rayo.Kill(ctx, h, false)
}

// The dashboard's request protocol's keys (requests.go), for tests that
// play the dashboard.
const (
	KVNamespace  = kvNamespace
	RequestKey   = requestKey
	ResultPrefix = resultPrefix
	ConfigKey    = configKey
	StatusKey    = statusKey
)

// HandleInFlight is how many requests this process's handles have in
// flight on a deployment (the slots its router holds).
func HandleInFlight(ctx context.Context, app, dep string) (int, error) {
	w, err := routes(ctx)
	if err != nil {
		return 0, err
	}
	d := w.router(app, dep)
	if d == nil {
		return 0, ErrNotFound
	}
	return d.r.Ongoing(nil), nil
}

// ReplicaStarts is how many replicas the controller has started for a
// deployment (its next replica's number).
func ReplicaStarts(ctx context.Context, app, dep string) (int, error) {
	b, err := rayo.KVGet(ctx, replicasKey(depKey{app, dep}), rayo.KVNamespace(kvNamespace))
	if err != nil {
		return 0, err
	}
	var rec replicasRecord
	err = msgpack.Unmarshal(b, &rec)
	return rec.Next, err
}

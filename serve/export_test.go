package serve

import (
	"context"

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

// The dashboard's request protocol's keys (requests.go), for tests that
// play the dashboard.
const (
	KVNamespace  = kvNamespace
	RequestKey   = requestKey
	ResultPrefix = resultPrefix
	ConfigKey    = configKey
	StatusKey    = statusKey
)

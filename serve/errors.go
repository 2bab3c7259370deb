package serve

import (
	"errors"

	"github.com/rayo-dev/rayo"
)

// Errors of package serve. Every error serve returns wraps one of them.
var (
	// ErrInvalidConfig: a bad option, name, route prefix or application.
	ErrInvalidConfig = errors.New("serve: invalid configuration")
	// ErrNotRegistered: a deployment the process running it does not
	// have (registered after rayo.Init, or in another binary).
	ErrNotRegistered = errors.New("serve: deployment not registered at package level")
	// ErrNoMethod: a handle call names a method the deployment's type
	// does not have, or calls it with the wrong arguments.
	ErrNoMethod = errors.New("serve: no such method")
	// ErrNotFound: no application or deployment by that name.
	ErrNotFound = errors.New("serve: not found")
	// ErrUnavailable: every replica is at MaxOngoingRequests (the proxy
	// answers 503), or the deployment has no replica within the timeout.
	ErrUnavailable = errors.New("serve: no replica available")
	// ErrNotStarted: Serve is not running on the cluster.
	ErrNotStarted = errors.New("serve: not started")
)

// Registered with rayo, so that errors.Is matches them also when a
// replica returned them (a handle call's Result, a stream's Next).
func init() {
	for name, err := range map[string]error{
		"ErrInvalidConfig": ErrInvalidConfig, "ErrNotRegistered": ErrNotRegistered, "ErrNoMethod": ErrNoMethod,
		"ErrNotFound": ErrNotFound, "ErrUnavailable": ErrUnavailable, "ErrNotStarted": ErrNotStarted,
	} {
		rayo.RegisterError("rayo.serve."+name, err)
	}
}

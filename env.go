package rayo

import (
	"os"
	"strings"
	"sync"

	"github.com/rayo-dev/rayo/internal/protocol"
)

// inheritedEnv is the environment this worker was started with for its
// task or actor (nil in a driver, or in a worker of the job's own
// environment): what the calls it submits inherit, as Ray's children
// inherit their parent's env_vars.
var inheritedEnv = sync.OnceValue(func() map[string]string {
	names := os.Getenv(protocol.EnvNamesVar)
	if names == "" || !IsWorker() {
		return nil
	}
	env := map[string]string{}
	for _, k := range strings.Split(names, ",") {
		if v, ok := os.LookupEnv(k); ok && protocol.CheckEnvVar(k, v) == nil {
			env[k] = v
		}
	}
	return env
})

// callEnv is the environment a call runs in, beyond the job's: the
// inherited one with the call's own EnvVars over it, as protocol.EnvList.
func (o callOptions) callEnv() []string {
	inh := inheritedEnv()
	if len(inh) == 0 && len(o.env) == 0 {
		return nil
	}
	m := make(map[string]string, len(inh)+len(o.env))
	for k, v := range inh {
		m[k] = v
	}
	for k, v := range o.env {
		m[k] = v
	}
	env, _ := protocol.EnvList(m) // every variable was checked already
	return env
}

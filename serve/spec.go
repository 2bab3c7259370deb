package serve

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/rayo-dev/rayo"
)

// appSpec is an application's desired state, as the controller keeps it
// (in the head's key-value store, so that it outlives the controller).
type appSpec struct {
	Name        string    `msgpack:"n"`
	RoutePrefix string    `msgpack:"p"`
	Ingress     string    `msgpack:"i"` // the ingress deployment's name
	Deployments []depSpec `msgpack:"d"`
}

// depSpec is one deployment of an application.
type depSpec struct {
	Name        string               `msgpack:"n"` // the registered deployment
	Args        []msgpack.RawMessage `msgpack:"a"`
	NumReplicas int                  `msgpack:"r"`
	MaxOngoing  int                  `msgpack:"mo"`
	MaxQueued   int                  `msgpack:"mq,omitempty"`
	NumCPUs     float64              `msgpack:"c"`
	NumGPUs     float64              `msgpack:"g,omitempty"`
	Memory      int64                `msgpack:"mem,omitempty"`
	Resources   map[string]float64   `msgpack:"res,omitempty"`
	UserConfig  []byte               `msgpack:"uc,omitempty"`
	HealthEvery time.Duration        `msgpack:"hp"`
	HealthLimit time.Duration        `msgpack:"ht"`
	Graceful    time.Duration        `msgpack:"gs"`
	Stream      bool                 `msgpack:"st,omitempty"`
	Autoscaling *AutoscalingConfig   `msgpack:"as,omitempty"`
	// Bundles are each replica's placement group, reserved with Strategy;
	// the replica runs in bundle 0.
	Bundles  []map[string]float64   `msgpack:"pgb,omitempty"`
	Strategy rayo.PlacementStrategy `msgpack:"pgs,omitempty"`
	// Version changes with the code's arguments or options: replicas of
	// another version are replaced by a rolling update. A UserConfig
	// change alone is delivered to the running replicas.
	Version string `msgpack:"v"`
}

func (a *appSpec) deployment(name string) *depSpec {
	for i := range a.Deployments {
		if a.Deployments[i].Name == name {
			return &a.Deployments[i]
		}
	}
	return nil
}

// build turns an Application into its spec: the ingress and every
// deployment bound as an argument, each deployed once.
func build(name, prefix string, app *Application) (*appSpec, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	spec := &appSpec{Name: name, RoutePrefix: prefix, Ingress: app.deployment}
	var add func(a *Application) error
	add = func(a *Application) error {
		if a.err != nil {
			return a.err
		}
		// Again here: a config file's overrides came after Bind.
		if err := a.cfg.validate(a.deployment); err != nil {
			return err
		}
		if spec.deployment(a.deployment) != nil {
			return nil // bound twice: one deployment
		}
		d := depSpec{Name: a.deployment, NumReplicas: a.cfg.NumReplicas, MaxOngoing: a.cfg.MaxOngoingRequests, MaxQueued: a.cfg.MaxQueuedRequests, NumCPUs: a.cfg.NumCPUs,
			NumGPUs: a.cfg.NumGPUs, Memory: a.cfg.Memory, Resources: a.cfg.Resources, HealthEvery: a.cfg.HealthCheckPeriod,
			HealthLimit: a.cfg.HealthCheckTimeout, Graceful: a.cfg.GracefulShutdownTimeout, Stream: a.cfg.StreamResponses, Autoscaling: a.cfg.Autoscaling,
			Bundles: a.cfg.PlacementGroupBundles, Strategy: a.cfg.PlacementGroupStrategy}
		uc, err := encodeUserConfig(a.cfg.UserConfig)
		if err != nil {
			return err
		}
		d.UserConfig = uc
		spec.Deployments = append(spec.Deployments, d) // reserve the name before the children
		for i, arg := range a.args {
			v := arg
			if child, ok := arg.(*Application); ok {
				if err := add(child); err != nil {
					return err
				}
				v = DeploymentHandle{App: name, Deployment: child.deployment}
			}
			raw, err := msgpack.Marshal(v)
			if err != nil {
				return fmt.Errorf("%w: deployment %s: argument %d: %v", ErrInvalidConfig, a.deployment, i, err)
			}
			d.Args = append(d.Args, raw)
		}
		d.Version = versionOf(&d)
		*spec.deployment(a.deployment) = d
		return nil
	}
	if err := add(app); err != nil {
		return nil, err
	}
	return spec, nil
}

// versionOf is a deployment's code version: its arguments and options,
// not its UserConfig (Ray's version excludes user_config too).
func versionOf(d *depSpec) string {
	c := *d
	c.UserConfig, c.Version, c.NumReplicas, c.Autoscaling = nil, "", 0, nil
	// Sorted map keys: the same options must give the same version.
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.SetSortMapKeys(true)
	_ = enc.Encode(&c)
	b := buf.Bytes()
	var h uint64 = 14695981039346656037
	for _, x := range b {
		h ^= uint64(x)
		h *= 1099511628211
	}
	return fmt.Sprintf("%016x", h)
}

func checkName(name string) error {
	if name == "" || strings.ContainsAny(name, ":/ \t\n") {
		return fmt.Errorf("%w: application name %q: want a non-empty name without ':', '/' or spaces", ErrInvalidConfig, name)
	}
	return nil
}

func checkPrefix(p string) error {
	if p == "" || p[0] != '/' || (len(p) > 1 && p[len(p)-1] == '/') || strings.ContainsAny(p, "?#{} \t") {
		return fmt.Errorf("%w: route prefix %q: want \"/\" or a path like \"/app\" (no trailing slash)", ErrInvalidConfig, p)
	}
	return nil
}

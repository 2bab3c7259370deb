package serve

import (
	"context"
	"sync"

	"github.com/rayo-dev/rayo/serve/internal/multiplex"
)

// Model multiplexing (Ray's @serve.multiplexed): a replica loads models
// by ID on demand and keeps the most recently used few. The model ID of a
// request comes from its serve_multiplexed_model_id header, or from a
// handle made with WithModelID; GetMultiplexedModelID reads it.

// ModelIDHeader is the HTTP header naming a request's model.
const ModelIDHeader = "serve_multiplexed_model_id"

type modelIDKey struct{}

// GetMultiplexedModelID returns the model ID of the request ctx belongs
// to ("" for none), as Ray's serve.get_multiplexed_model_id.
func GetMultiplexedModelID(ctx context.Context) string {
	id, _ := ctx.Value(modelIDKey{}).(string)
	return id
}

func withModelID(ctx context.Context, id string) context.Context {
	if id == "" {
		return ctx
	}
	return context.WithValue(ctx, modelIDKey{}, id)
}

// MultiplexConfig: MaxModels per replica (Ray's
// max_num_models_per_replica, default 3; -1 for no limit), the Unload
// hook run on eviction, and OnEvent for metrics.
type MultiplexConfig[M any] = multiplex.Config[M]

// ModelCache is a replica's multiplexed models.
type ModelCache[M any] struct {
	c *multiplex.Cache[M]
}

// modelCaches are this process's caches: a replica reports their models
// so that requests for a model go where it is loaded.
var modelCaches struct {
	sync.Mutex
	all []interface{ AppendLoaded([]string) []string }
}

// Multiplexed makes a replica's model cache (Ray's @serve.multiplexed):
// load loads a model by ID; at most MaxModels stay, the least recently
// used is unloaded first (never one a request is using). Make it in the
// deployment's constructor.
func Multiplexed[M any](load func(ctx context.Context, modelID string) (M, error), cfg MultiplexConfig[M]) (*ModelCache[M], error) {
	if spec := thisReplica.Load(); spec != nil {
		app, dep, user := spec.App, spec.Deployment, cfg.OnEvent
		cfg.OnEvent = func(e multiplex.Event) {
			observeModelEvent(app, dep, e)
			if user != nil {
				user(e)
			}
		}
	}
	c, err := multiplex.New(load, cfg)
	if err != nil {
		return nil, err
	}
	modelCaches.Lock()
	modelCaches.all = append(modelCaches.all, c)
	modelCaches.Unlock()
	return &ModelCache[M]{c: c}, nil
}

// Get returns the model of ctx's request (GetMultiplexedModelID),
// loading it if needed.
func (m *ModelCache[M]) Get(ctx context.Context) (M, error) {
	return m.c.Get(ctx, GetMultiplexedModelID(ctx))
}

// Acquire is Get that pins the model until release: it is not unloaded
// while the request uses it.
func (m *ModelCache[M]) Acquire(ctx context.Context) (M, func(), error) {
	return m.c.Acquire(ctx, GetMultiplexedModelID(ctx))
}

// Loaded lists the loaded models, most recent first.
func (m *ModelCache[M]) Loaded() []string { return m.c.Loaded() }

// loadedModels lists every model this process's caches hold.
func loadedModels() []string {
	modelCaches.Lock()
	defer modelCaches.Unlock()
	var out []string
	for _, c := range modelCaches.all {
		out = c.AppendLoaded(out)
	}
	return out
}

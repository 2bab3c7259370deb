package multiplex_test

import (
	"context"
	"fmt"

	"github.com/rayo-dev/rayo/serve/internal/multiplex"
)

// A replica serving per-customer models, two at a time. A request pins its
// model with Acquire so that a concurrent request for another model cannot
// unload it mid-request.
func Example() {
	type Model struct{ name string }
	cache, err := multiplex.New(
		func(ctx context.Context, id string) (*Model, error) {
			return &Model{name: "weights/" + id}, nil // e.g. read from a bucket
		},
		multiplex.Config[*Model]{
			MaxModels: 2,
			Unload: func(ctx context.Context, id string, m *Model) error {
				fmt.Println("unload", id)
				return nil
			},
		})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	for _, id := range []string{"alice", "bob", "alice", "carol"} {
		m, release, err := cache.Acquire(ctx, id) // id from the serve_multiplexed_model_id header
		if err != nil {
			panic(err)
		}
		fmt.Println("serve", m.name)
		release()
	}
	fmt.Println("loaded", cache.Loaded())
	_ = cache.Close(ctx)
	// Output:
	// serve weights/alice
	// serve weights/bob
	// serve weights/alice
	// unload bob
	// serve weights/carol
	// loaded [carol alice]
	// unload alice
	// unload carol
}

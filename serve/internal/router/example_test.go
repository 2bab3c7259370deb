package router_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/rayo-dev/rayo/serve/internal/router"
)

// route shows how a proxy or handle uses a Router: a full deployment is
// refused at once, one scaled to zero is waited for.
func route(ctx context.Context, r *router.Router, modelID string) (string, error) {
	for {
		changed := r.Changed() // before Pick, so no Update is missed
		t, err := r.Pick(modelID)
		switch {
		case err == nil:
			defer t.Done() // when the request ends
			return t.ReplicaID(), nil
		case errors.Is(err, router.ErrNoCapacity):
			return "", err // the proxy answers 503 with Retry-After
		case errors.Is(err, router.ErrNoReplicas):
			select {
			case <-changed: // replicas came (or went): try again
			case <-ctx.Done():
				return "", ctx.Err()
			}
		default:
			return "", err
		}
	}
}

func Example() {
	r := router.New(router.Options{})
	if err := r.Update([]router.Replica{
		{ID: "replica-1", MaxOngoing: 5, Models: []string{"llama"}},
		{ID: "replica-2", MaxOngoing: 5},
	}); err != nil {
		fmt.Println(err)
		return
	}
	id, err := route(context.Background(), r, "llama")
	fmt.Println(id, err)
	fmt.Println(r.Ongoing(nil), r.Stats().ModelHits)

	err = r.Update([]router.Replica{{ID: "", MaxOngoing: 5}})
	fmt.Println(err)
	// Output:
	// replica-1 <nil>
	// 0 1
	// router: invalid replica: replicas[0].ID is empty
}

package microbench

import (
	"context"

	"github.com/rayo-dev/rayo"
)

// The remote functions and actors of the benchmark, as in ray_perf.py.

type Actor struct{}

type Client struct {
	Servers []rayo.ActorHandle[Actor]
}

var (
	smallValue = rayo.Register[[]byte]("microbench.small_value", func() []byte { return []byte("ok") })

	doPutSmall = rayo.Register[int]("microbench.do_put_small", func(ctx context.Context) (int, error) {
		for i := 0; i < 100; i++ {
			if _, err := rayo.Put(ctx, 0); err != nil {
				return 0, err
			}
		}
		return 0, nil
	})

	doPut = rayo.Register[int]("microbench.do_put", func(ctx context.Context) (int, error) {
		arr := make([]int64, 10*1024*1024)
		for i := 0; i < 10; i++ {
			if _, err := rayo.Put(ctx, arr); err != nil {
				return 0, err
			}
		}
		return 0, nil
	})

	createObjectContainingRef = rayo.Register[[]rayo.ObjectRef[int]]("microbench.create_object_containing_ref",
		func(ctx context.Context) ([]rayo.ObjectRef[int], error) {
			refs := make([]rayo.ObjectRef[int], 10000)
			for i := range refs {
				r, err := rayo.Put(ctx, 1)
				if err != nil {
					return nil, err
				}
				refs[i] = r
			}
			return refs, nil
		})

	work = rayo.Register[int]("microbench.work", func(ctx context.Context, actors []rayo.ActorHandle[Actor], n int) (int, error) {
		refs := make([]rayo.ObjectRef[[]byte], n)
		for i := range refs {
			refs[i] = actorSmallValue.Remote(actors[i%len(actors)])
		}
		_, err := rayo.GetAll(ctx, refs)
		return 0, err
	})

	actorType       = rayo.RegisterActor[Actor]("microbench.Actor", func() *Actor { return &Actor{} })
	actorSmallValue = rayo.RegisterMethod[[]byte](actorType, "small_value", func(*Actor) []byte { return []byte("ok") })
	actorSmallArg   = rayo.RegisterMethod[[]byte](actorType, "small_value_arg", func(_ *Actor, x int) []byte { return []byte("ok") })
	actorBatch      = rayo.RegisterMethod[int](actorType, "small_value_batch", func(_ *Actor, ctx context.Context, n int) (int, error) {
		refs := make([]rayo.ObjectRef[[]byte], n)
		for i := range refs {
			refs[i] = smallValue.Remote()
		}
		_, err := rayo.GetAll(ctx, refs)
		return 0, err
	})

	clientType  = rayo.RegisterActor[Client]("microbench.Client", func(servers []rayo.ActorHandle[Actor]) *Client { return &Client{Servers: servers} })
	clientBatch = rayo.RegisterMethod[int](clientType, "small_value_batch", func(c *Client, ctx context.Context, n int) (int, error) {
		var refs []rayo.ObjectRef[[]byte]
		for _, s := range c.Servers {
			for i := 0; i < n; i++ {
				refs = append(refs, actorSmallValue.Remote(s))
			}
		}
		_, err := rayo.GetAll(ctx, refs)
		return 0, err
	})
	clientBatchArg = rayo.RegisterMethod[int](clientType, "small_value_batch_arg", func(c *Client, ctx context.Context, n int) (int, error) {
		x, err := rayo.Put(ctx, 0)
		if err != nil {
			return 0, err
		}
		var refs []rayo.ObjectRef[[]byte]
		for _, s := range c.Servers {
			for i := 0; i < n; i++ {
				refs = append(refs, actorSmallArg.Remote(s, x))
			}
		}
		_, err = rayo.GetAll(ctx, refs)
		return 0, err
	})
)

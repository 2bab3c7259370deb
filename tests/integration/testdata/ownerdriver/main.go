// Command ownerdriver is a driver for the ownership integration tests. It
// joins the cluster that RAYO_ADDRESS and RAYO_TOKEN name, puts -put
// objects of -size bytes, runs a task on the node -task-on names that
// returns -size bytes, lends the first object to the named actor -keeper
// (class "itest.obj.Keeper", as the test binary registers it) if given,
// and prints
//
//	ready <put-id> ... <task-result-id>
//
// Then it keeps every reference and blocks until it is killed.
//
//	ownerdriver [-put 2] [-size 8388608] [-task-on NODE] [-keeper NAME -namespace NS]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/rayo-dev/rayo"
)

// objHolder and objKeeper mirror the test binary's types: a reference
// nested in a value arrives as a reference.
type objHolder struct {
	Ref rayo.ObjectRef[[]byte]
}

type objKeeper struct {
	ref rayo.ObjectRef[[]byte]
}

var (
	makeBytes = rayo.Register[[]byte]("itest.ownerdriver.makeBytes", func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i * 7)
		}
		return b
	})

	keeperActor = rayo.RegisterActor[objKeeper]("itest.obj.Keeper", func() *objKeeper { return &objKeeper{} })
	keeperKeep  = rayo.RegisterMethod[int](keeperActor, "Keep", func(k *objKeeper, h objHolder) int {
		k.ref = h.Ref
		return os.Getpid()
	})
)

func main() {
	// Workers run this binary too: there, Init serves calls and never
	// returns.
	if rayo.IsWorker() {
		err := rayo.Init(context.Background())
		fmt.Fprintln(os.Stderr, "ownerdriver worker: Init returned:", err)
		os.Exit(3)
	}
	puts := flag.Int("put", 2, "how many objects to put")
	size := flag.Int("size", 8<<20, "the size of each object and of the task's result")
	taskOn := flag.String("task-on", "", "the node the task runs on (hard affinity)")
	keeper := flag.String("keeper", "", "the name of an itest.obj.Keeper actor to lend the first object to")
	ns := flag.String("namespace", "itest", "the keeper's namespace")
	flag.Parse()
	refs, err := run(*puts, *size, *taskOn, *keeper, *ns)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ownerdriver:", err)
		os.Exit(1)
	}
	ids := make([]string, len(refs))
	for i, r := range refs {
		ids[i] = r.ID()
	}
	fmt.Printf("ready %s\n", strings.Join(ids, " "))
	// Hold every reference until killed.
	for {
		time.Sleep(time.Hour)
		fmt.Fprintln(os.Stderr, len(refs))
	}
}

func run(puts, size int, taskOn, keeper, ns string) ([]rayo.ObjectRef[[]byte], error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := rayo.Init(ctx, rayo.WithLogToDriver(false)); err != nil {
		return nil, err
	}
	var refs []rayo.ObjectRef[[]byte]
	b := make([]byte, size)
	for i := range puts {
		b[0] = byte(i)
		r, err := rayo.Put(ctx, b)
		if err != nil {
			return nil, fmt.Errorf("put %d: %w", i, err)
		}
		refs = append(refs, r)
	}
	var opts []rayo.Option
	if taskOn != "" {
		opts = append(opts, rayo.NodeAffinity(taskOn, false))
	}
	res := makeBytes.Options(opts...).Remote(size)
	if _, _, err := rayo.Wait(ctx, []rayo.ObjectRef[[]byte]{res}, 1, -1); err != nil {
		return nil, fmt.Errorf("waiting for the task: %w", err)
	}
	refs = append(refs, res)
	if keeper != "" && len(refs) > 0 {
		h, err := rayo.GetActor[objKeeper](ctx, keeper, rayo.Namespace(ns))
		if err != nil {
			return nil, fmt.Errorf("getting the keeper: %w", err)
		}
		if _, err := keeperKeep.Remote(h, objHolder{refs[0]}).Get(ctx); err != nil {
			return nil, fmt.Errorf("lending to the keeper: %w", err)
		}
	}
	return refs, nil
}

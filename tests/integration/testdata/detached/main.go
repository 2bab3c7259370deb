// Command detached is a driver for the actor integration tests. It joins
// the cluster that RAYO_ADDRESS and RAYO_TOKEN name, creates a named
// counter actor (class "itest.Counter", as the test binary registers it)
// in a namespace, increments it to -n, runs one task on each node that
// -tasks-on names (pinned there), and prints
//
//	worker <pid>                          (one line per task)
//	created <actor-id> pid <actor's worker pid>
//
// Then it waits until the file -wait-for exists, if given, and exits,
// which ends its job.
//
//	detached -name NAME [-namespace itest] [-detached=true] [-n 3]
//	         [-tasks-on NODE,NODE] [-wait-for FILE]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/rayo-dev/rayo"
)

// Counter is the same actor class as the integration test's "itest.Counter":
// the same class name, constructor arguments and methods.
type Counter struct{ n int }

var (
	counter = rayo.RegisterActor[Counter]("itest.Counter", func(start int) *Counter { return &Counter{n: start} })
	incr    = rayo.RegisterMethod[int](counter, "Incr", func(c *Counter, by int) int { c.n += by; return c.n })
	pid     = rayo.RegisterMethod[int](counter, "Pid", func(*Counter) int { return os.Getpid() })

	// taskPid leaves a worker of this job on the node it runs on.
	taskPid = rayo.Register[int]("itest.detached.taskPid", func() int { return os.Getpid() })
)

func main() {
	// Workers run this binary too: there, Init serves calls and never
	// returns.
	if rayo.IsWorker() {
		err := rayo.Init(context.Background())
		fmt.Fprintln(os.Stderr, "detached worker: Init returned:", err)
		os.Exit(3)
	}
	name := flag.String("name", "", "the actor's name (required)")
	ns := flag.String("namespace", "itest", "the actor's namespace")
	detached := flag.Bool("detached", true, "create a detached actor")
	n := flag.Int("n", 3, "how many times to increment the counter")
	tasksOn := flag.String("tasks-on", "", "comma-separated node IDs to run a task on")
	waitFor := flag.String("wait-for", "", "a file whose creation lets the driver exit")
	flag.Parse()
	if err := run(*name, *ns, *detached, *n, *tasksOn, *waitFor); err != nil {
		fmt.Fprintln(os.Stderr, "detached:", err)
		os.Exit(1)
	}
}

func run(name, ns string, detached bool, n int, tasksOn, waitFor string) error {
	if name == "" {
		return errors.New("-name is required")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := rayo.Init(ctx, rayo.WithLogToDriver(false)); err != nil {
		return err
	}
	defer rayo.Shutdown()
	opts := []rayo.Option{rayo.Name(name), rayo.Namespace(ns)}
	if detached {
		opts = append(opts, rayo.Detached())
	}
	h, err := counter.Options(opts...).New(ctx, 0)
	if err != nil {
		return fmt.Errorf("creating the actor: %w", err)
	}
	for i := 1; i <= n; i++ {
		v, err := incr.Remote(h, 1).Get(ctx)
		if err != nil {
			return fmt.Errorf("Incr %d: %w", i, err)
		}
		if v != i {
			return fmt.Errorf("Incr %d returned %d", i, v)
		}
	}
	if tasksOn != "" {
		for _, node := range strings.Split(tasksOn, ",") {
			p, err := taskPid.Options(rayo.NodeAffinity(node, false)).Remote().Get(ctx)
			if err != nil {
				return fmt.Errorf("task on node %s: %w", node, err)
			}
			fmt.Printf("worker %d\n", p)
		}
	}
	p, err := pid.Remote(h).Get(ctx)
	if err != nil {
		return fmt.Errorf("Pid: %w", err)
	}
	fmt.Printf("created %s pid %d\n", h.ID(), p)
	if waitFor != "" {
		deadline := time.Now().Add(2 * time.Minute)
		for {
			if _, err := os.Stat(waitFor); err == nil {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s did not appear within 2 minutes", waitFor)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return nil
}

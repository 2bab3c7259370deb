// Command quickstart shows rayo's core: remote tasks, Put, Get, Wait and
// tasks that depend on other tasks' results. Run it with
//
//	go run ./examples/quickstart
//
// It starts an embedded single-node cluster; set RAYO_ADDRESS=auto to run
// it on a cluster started with `rayo start --head` instead.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/rayo-dev/rayo"
)

// Tasks are registered at package level by a stable name, so that the
// workers (which run this same binary) know them too.
var (
	square = rayo.Register[int]("quickstart.square", func(x int) int { return x * x })

	add = rayo.Register[int]("quickstart.add", func(ctx context.Context, a, b int) (int, error) {
		return a + b, nil
	})

	wordCount = rayo.Register[map[string]int]("quickstart.wordCount", func(text string) map[string]int {
		counts := map[string]int{}
		for _, w := range strings.Fields(strings.ToLower(text)) {
			counts[strings.Trim(w, ".,")]++
		}
		return counts
	})

	slow = rayo.Register[string]("quickstart.slow", func(ctx context.Context, d time.Duration, name string) (string, error) {
		select {
		case <-time.After(d):
			return name, nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	})

	divide = rayo.Register[int]("quickstart.divide", func(a, b int) (int, error) {
		if b == 0 {
			return 0, ErrDivideByZero
		}
		return a / b, nil
	})

	hello = rayo.Register[string]("quickstart.hello", func() string {
		host, _ := os.Hostname()
		fmt.Printf("hello from a worker on %s\n", host)
		return fmt.Sprintf("pid %d", os.Getpid())
	})
)

// ErrDivideByZero is registered so that errors.Is matches it in the driver
// when a task on another process returns it.
var ErrDivideByZero = errors.New("divide by zero")

func init() { rayo.RegisterError("quickstart.ErrDivideByZero", ErrDivideByZero) }

func main() {
	ctx := context.Background()
	// In a worker process, Init serves tasks and never returns.
	if err := rayo.Init(ctx); err != nil {
		log.Fatal(err)
	}
	defer rayo.Shutdown()
	if err := run(ctx); err != nil {
		rayo.Shutdown()
		log.Fatal(err)
	}
}

func run(ctx context.Context) error {
	// Fan out: ten tasks run in parallel on the worker pool.
	refs := make([]rayo.ObjectRef[int], 10)
	for i := range refs {
		refs[i] = square.Remote(i)
	}
	squares, err := rayo.GetAll(ctx, refs)
	if err != nil {
		return err
	}
	fmt.Println("squares:", squares)

	// Dependent tasks: pass refs as arguments; rayo waits for them.
	sum := add.Remote(refs[3], refs[4]) // 9 + 16
	total := add.Remote(sum, 100)
	v, err := total.Get(ctx)
	if err != nil {
		return err
	}
	fmt.Println("3² + 4² + 100 =", v)

	// Put a value once, use it in many tasks.
	text, err := rayo.Put(ctx, "The quick brown fox. The lazy dog. The end.")
	if err != nil {
		return err
	}
	counts, err := wordCount.Remote(text).Get(ctx)
	if err != nil {
		return err
	}
	fmt.Println(`"the" appears`, counts["the"], "times")

	// Wait for the first of several tasks to finish.
	racers := []rayo.ObjectRef[string]{
		slow.Remote(2*time.Second, "tortoise"),
		slow.Remote(10*time.Millisecond, "hare"),
	}
	ready, pending, err := rayo.Wait(ctx, racers, 1, 10*time.Second)
	if err != nil {
		return err
	}
	winner, err := ready[0].Get(ctx)
	if err != nil {
		return err
	}
	fmt.Println("first to finish:", winner, "| still running:", len(pending))
	for _, r := range pending {
		_ = rayo.Cancel(r, false)
	}

	// Task errors come back typed.
	_, err = divide.Remote(1, 0).Get(ctx)
	fmt.Println("divide by zero is ErrTaskFailed:", errors.Is(err, rayo.ErrTaskFailed),
		"| is ErrDivideByZero:", errors.Is(err, ErrDivideByZero))

	// Worker output reaches this terminal with a (task pid=N node=X) prefix.
	who, err := hello.Remote().Get(ctx)
	if err != nil {
		return err
	}
	fmt.Println("hello ran in", who)
	return nil
}

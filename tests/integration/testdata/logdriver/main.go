// Command logdriver is a driver for the worker-output test: it joins the
// cluster RAYO_ADDRESS and RAYO_TOKEN name (printing worker output or not,
// as -log-to-driver says), runs a task that prints -line on its worker's
// stdout, prints
//
//	ran pid <worker pid> node <node id>
//
// and exits once the file -wait-for exists.
//
//	logdriver -line TEXT -wait-for FILE [-log-to-driver=false]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/rayo-dev/rayo"
)

// Ran says where the task ran.
type Ran struct {
	Pid    int
	NodeID string
}

var say = rayo.Register[Ran]("logdriver.say", func(line string) Ran {
	fmt.Println(line)
	return Ran{Pid: os.Getpid(), NodeID: rayo.NodeID()}
})

func main() {
	// Workers run this binary too: there, Init serves tasks and never
	// returns.
	if rayo.IsWorker() {
		err := rayo.Init(context.Background())
		fmt.Fprintln(os.Stderr, "logdriver worker: Init returned:", err)
		os.Exit(3)
	}
	line := flag.String("line", "", "what the task prints (required)")
	toDriver := flag.Bool("log-to-driver", true, "print worker output here")
	waitFor := flag.String("wait-for", "", "a file whose creation lets the driver exit (required)")
	flag.Parse()
	if err := run(*line, *toDriver, *waitFor); err != nil {
		fmt.Fprintln(os.Stderr, "logdriver:", err)
		os.Exit(1)
	}
}

func run(line string, toDriver bool, waitFor string) error {
	if line == "" || waitFor == "" {
		return errors.New("-line and -wait-for are required")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := rayo.Init(ctx, rayo.WithLogToDriver(toDriver)); err != nil {
		return err
	}
	defer rayo.Shutdown()
	r, err := say.Remote(line).Get(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("ran pid %d node %s\n", r.Pid, r.NodeID)
	for {
		if _, err := os.Stat(waitFor); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s never appeared: %w", waitFor, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/rayo-dev/rayo"
)

// RunEnv is the environment variable `rayo serve run` passes Main its
// target in.
const RunEnv = "RAYO_SERVE_RUN"

// Main runs Serve from the command line, as Ray's `serve run`: Go
// cannot import code by path, so a binary opts in by calling Main from
// its main function, after its package-level registrations. Main calls
// rayo.Init (in a worker process it serves tasks and never returns) and
// runs its target, RAYO_SERVE_RUN or else its first argument: a config
// file (.yaml, .yml, .json), deployed as Deploy does, or the import path
// of a registered builder, whose application runs as "default" on route
// "/" (built with no args). It prints the proxy's address and serves
// until SIGINT or SIGTERM, then shuts Serve and rayo down and exits 0;
// on an error it prints it and exits 1. It never returns.
func Main() {
	os.Exit(runMain(os.Getenv(RunEnv), os.Args[1:], os.Stdout, os.Stderr))
}

func runMain(target string, args []string, stdout, stderr io.Writer) int {
	// Signals are caught from the start and until the end: a second
	// Ctrl-C (a terminal's, besides the one `rayo serve run` forwards)
	// must not cut the shutdown short.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if target == "" && len(args) > 0 {
		target = args[0]
	}
	if target == "" {
		fmt.Fprintln(stderr, "serve: no target: give a config file or a builder's import path (or set "+RunEnv+")")
		return 1
	}
	if err := rayo.Init(ctx); err != nil {
		fmt.Fprintln(stderr, "serve:", err)
		return 1
	}
	defer rayo.Shutdown()
	addr, err := runTarget(ctx, target)
	if err == nil {
		if addr != "" {
			fmt.Fprintf(stdout, "serve: %s is running at http://%s\n", target, addr)
		} else {
			fmt.Fprintf(stdout, "serve: %s is running (no HTTP proxy)\n", target)
		}
		<-ctx.Done()
		fmt.Fprintln(stdout, "serve: shutting down")
	}
	sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = errors.Join(err, Shutdown(sctx))
	if err != nil {
		fmt.Fprintln(stderr, "serve:", err)
		return 1
	}
	return 0
}

// runTarget deploys a config file or runs a registered builder's
// application, and returns this node's proxy address.
func runTarget(ctx context.Context, target string) (string, error) {
	switch strings.ToLower(filepath.Ext(target)) {
	case ".yaml", ".yml", ".json":
		file, err := os.ReadFile(target)
		if err != nil {
			return "", err
		}
		return Deploy(ctx, file)
	}
	b := lookupBuilder(target)
	if b == nil {
		return "", fmt.Errorf("%w: %q is neither a config file (.yaml, .yml, .json) nor a builder registered in this binary (serve.RegisterBuilder)", ErrInvalidConfig, target)
	}
	app, err := b(nil)
	if err != nil {
		return "", fmt.Errorf("%w: the builder %s: %w", ErrInvalidConfig, target, err)
	}
	addr, err := Start(ctx, HTTPOptions{})
	if err != nil {
		return "", err
	}
	_, err = Run(ctx, app, RunOptions{})
	return addr, err
}

package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/rayo-dev/rayo/internal/pki"
	"github.com/rayo-dev/rayo/internal/rpc"
	"github.com/rayo-dev/rayo/internal/session"
)

// `rayo serve run` (Ray's serve run): Go cannot import an application by
// path, so it runs a binary that calls serve.Main, in the foreground,
// with the target in RAYO_SERVE_RUN. With --address the binary joins
// that cluster (RAYO_ADDRESS, and the token in RAYO_TOKEN: never in
// argv); without, it starts the embedded default cluster itself.

// serveRunEnv mirrors serve.RunEnv.
const serveRunEnv = "RAYO_SERVE_RUN"

func newServeRun() *cobra.Command {
	var cf clusterFlags
	var fingerprint string
	cmd := &cobra.Command{
		Use:   "run TARGET -- BINARY [ARGS...]",
		Short: "Run a Serve application in the foreground until Ctrl-C, from a binary that calls serve.Main",
		Long: `Run BINARY, a program whose main calls serve.Main, in the foreground with TARGET: a config
file (.yaml, .yml, .json) or the import path of a builder the binary registers. It prints
the proxy's address and serves until Ctrl-C (SIGINT and SIGTERM are passed on to it), then
shuts Serve down; rayo exits with the binary's status. Without --address the binary joins
the cluster RAYO_ADDRESS names, when the environment sets it (as Ray's serve run follows
RAY_ADDRESS), and otherwise starts an embedded single-node cluster, as Ray's serve run starts
a local one.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if cmd.ArgsLenAtDash() != 1 || len(args) < 2 {
				return errors.New("usage: rayo serve run TARGET -- BINARY [ARGS...]")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			env, err := serveRunEnvFor(&cf, fingerprint, args[0])
			if err != nil {
				return err
			}
			child := exec.Command(args[1], args[2:]...)
			child.Env = append(os.Environ(), env...)
			child.Stdin, child.Stdout, child.Stderr = cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()
			return runForwardingSignals(child)
		},
	}
	cmd.Flags().StringVar(&cf.tempDir, "temp-dir", session.DefaultTempDir, "where session directories live (to find the token of --address's cluster)")
	cmd.Flags().StringVar(&cf.address, "address", "", "the head's host:port to run on (default: RAYO_ADDRESS if set, else an embedded cluster the binary starts)")
	registerToken(cmd.Flags(), &cf.token)
	cmd.Flags().StringVar(&fingerprint, "ca-fingerprint", "", "with --address: the SHA-256 fingerprint of the cluster's CA, for a cluster with TLS on another machine (default: RAYO_CA_FINGERPRINT, then the session of a head on this machine)")
	return cmd
}

// serveRunEnvFor is what the binary's environment gains: the target (a
// file as an absolute path, as the binary's workers may run elsewhere)
// and, with --address, the cluster, its token and its CA's fingerprint.
func serveRunEnvFor(cf *clusterFlags, fingerprint, target string) ([]string, error) {
	if fi, err := os.Stat(target); err == nil && !fi.IsDir() {
		abs, err := filepath.Abs(target)
		if err != nil {
			return nil, err
		}
		target = abs
	}
	env := []string{serveRunEnv + "=" + target}
	if cf.address == "" {
		return env, nil
	}
	addr, token, err := session.Resolve(cf.tempDir, cf.address, cf.token)
	if err != nil {
		return nil, err
	}
	env = append(env, "RAYO_ADDRESS="+addr, "RAYO_TOKEN="+token)
	fp, err := clusterCAFingerprint(fingerprint, cf.tempDir, addr)
	if err != nil {
		return nil, err
	}
	if fp != "" {
		env = append(env, rpc.EnvCAFingerprint+"="+fp)
	}
	return env, nil
}

// clusterCAFingerprint is the fingerprint of the cluster CA that the
// binary's driver checks the head against before it joins over TLS:
// --ca-fingerprint, else RAYO_CA_FINGERPRINT, else that of the CA in the
// session of the head at addr on this machine ("" for a cluster without
// TLS, or one of another machine, whose fingerprint must be given).
func clusterCAFingerprint(given, tempDir, addr string) (string, error) {
	if given == "" {
		given = os.Getenv(rpc.EnvCAFingerprint)
	}
	if given != "" {
		return pki.NormalizeFingerprint(given)
	}
	file := session.CAFile(tempDir, addr)
	if file == "" {
		return "", nil
	}
	fp, err := pki.FileFingerprint(file)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil // the head runs without TLS
	}
	return fp, err
}

// runForwardingSignals runs child, passing SIGINT and SIGTERM on to it,
// and returns its exit status as an exitStatus (nil for 0).
func runForwardingSignals(child *exec.Cmd) error {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	if err := child.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	forwarded := make(chan struct{})
	go func() {
		defer close(forwarded)
		for {
			select {
			case s := <-sigs:
				_ = child.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	err := child.Wait()
	close(done)
	<-forwarded
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code := ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
		return exitStatus(code)
	}
	return err
}

// exitStatus is an error that only sets rayo's exit status (Main prints
// nothing for it: the program that failed said why).
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

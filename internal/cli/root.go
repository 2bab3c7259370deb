package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
	"github.com/rayo-dev/rayo/internal/session"
)

// Main runs the rayo command with args and returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	if err := root.ExecuteContext(context.Background()); err != nil {
		var st exitStatus
		if errors.As(err, &st) {
			return int(st)
		}
		fmt.Fprintln(stderr, "rayo:", err)
		return 1
	}
	return 0
}

// clusterFlags are the flags of every command that talks to a cluster.
type clusterFlags struct {
	tempDir   string
	address   string
	token     string
	dashboard string
	// opts are what dialHeadToken dialed the head with (TLS).
	opts []rpc.Option
}

func (f *clusterFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.tempDir, "temp-dir", session.DefaultTempDir, "where session directories live")
	cmd.Flags().StringVar(&f.address, "address", "", "the head's host:port (default: RAYO_ADDRESS, then the latest session)")
	registerToken(cmd.Flags(), &f.token)
	cmd.Flags().StringVar(&f.dashboard, "dashboard-address", "", "the HTTP API's host:port or URL, for commands that use it (default: RAYO_DASHBOARD_ADDRESS, then the latest session)")
}

// dialHead connects to the head the flags name.
func (f *clusterFlags) dialHead(ctx context.Context) (*rpc.Client, error) {
	c, _, err := f.dialHeadToken(ctx)
	return c, err
}

// clusterStatus asks the head the flags name for the cluster's state.
func (f *clusterFlags) clusterStatus(ctx context.Context) (*protocol.ClusterStatusReply, error) {
	addr, token, err := session.Resolve(f.tempDir, f.address, f.token)
	if err != nil {
		return nil, err
	}
	return fetchStatus(ctx, f.tempDir, addr, token)
}

// fetchStatus asks the head at addr for the cluster's state.
func fetchStatus(ctx context.Context, tempDir, addr, token string) (*protocol.ClusterStatusReply, error) {
	head, _, err := dialChecked(ctx, tempDir, addr, token)
	if err != nil {
		return nil, err
	}
	defer head.Close()
	var st protocol.ClusterStatusReply
	if err := head.Call(ctx, protocol.HeadClusterStatus, &protocol.ClusterStatusRequest{}, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// dialHeadToken is dialHead, also returning the token it used (to reach
// other daemons of the cluster).
func (f *clusterFlags) dialHeadToken(ctx context.Context) (*rpc.Client, string, error) {
	addr, token, err := session.Resolve(f.tempDir, f.address, f.token)
	if err != nil {
		return nil, "", err
	}
	c, opts, err := dialChecked(ctx, f.tempDir, addr, token)
	f.opts = opts
	return c, token, err
}

// dialChecked dials the head at addr, over TLS when the cluster uses it;
// it returns the options it dialed with, for the cluster's other daemons.
func dialChecked(ctx context.Context, tempDir, addr, token string) (*rpc.Client, []rpc.Option, error) {
	opts, err := dialOptions(ctx, tempDir, addr, token)
	if err == nil {
		var c *rpc.Client
		if c, err = rpc.Dial(ctx, addr, token, opts...); err == nil {
			return c, opts, nil
		}
	}
	if errors.Is(err, rpc.ErrUnauthenticated) {
		return nil, nil, fmt.Errorf("the cluster at %s refused the token: %w", addr, err)
	}
	return nil, nil, fmt.Errorf("cannot reach the cluster at %s: %w", addr, err)
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "rayo",
		Short:         "rayo: a distributed compute engine for Go, with Ray's programming model",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error { return applyTokenFile(cmd) }
	root.AddCommand(newStart(), newStop(), newStatus(), newMemory(), newMicrobenchmark(), newList(), newDrain(), newGet(), newSummary(), newTimeline(), newLogs(), newJob(), newServe(), newPythonBridge())
	return root
}

package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/rayo-dev/rayo/internal/protocol"
)

func newDrain() *cobra.Command {
	var cf clusterFlags
	var deadline time.Duration
	var noWait bool
	cmd := &cobra.Command{
		Use:   "drain NODE_ID",
		Short: "Stop new work landing on a node, move its actors, and let it leave once its work is done",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if deadline <= 0 {
				return fmt.Errorf("--deadline must be positive")
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), deadline+30*time.Second)
			defer cancel()
			head, err := cf.dialHead(ctx)
			if err != nil {
				return err
			}
			defer head.Close()
			id := args[0]
			if err := head.Call(ctx, protocol.HeadDrainNode, &protocol.DrainNodeRequest{NodeID: id, DeadlineMillis: deadline.Milliseconds()}, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "draining node %s (deadline %s)\n", id, deadline)
			if noWait {
				return nil
			}
			for {
				var st protocol.ClusterStatusReply
				if err := head.Call(ctx, protocol.HeadClusterStatus, &protocol.ClusterStatusRequest{}, &st); err != nil {
					return err
				}
				for _, n := range st.Nodes {
					if n.Info.NodeID == id && !n.Alive {
						fmt.Fprintf(cmd.OutOrStdout(), "node %s left the cluster\n", id)
						return nil
					}
				}
				select {
				case <-ctx.Done():
					return fmt.Errorf("node %s did not leave in time", id)
				case <-time.After(200 * time.Millisecond):
				}
			}
		},
	}
	cf.register(cmd)
	cmd.Flags().DurationVar(&deadline, "deadline", time.Minute, "how long running work may take before the node leaves anyway")
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "return once the drain has started")
	return cmd
}

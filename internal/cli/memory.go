package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
)

func newMemory() *cobra.Command {
	var cf clusterFlags
	var format string
	cmd := &cobra.Command{
		Use:   "memory",
		Short: "List objects: owner, size, where they are, pins, and what keeps them alive",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "table" && format != "json" {
				return fmt.Errorf("--format must be table or json, not %q", format)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 20*time.Second)
			defer cancel()
			rep, err := collectMemory(ctx, &cf)
			if err != nil {
				return err
			}
			if format == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			printMemory(cmd.OutOrStdout(), rep)
			return nil
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVar(&format, "format", "table", "table or json")
	return cmd
}

// MemoryReport is `rayo memory --format json`.
type MemoryReport struct {
	Nodes     []NodeMemory             `json:"nodes"`
	Processes []protocol.ListRefsReply `json:"processes"`
}

type NodeMemory struct {
	NodeID         string                     `json:"node_id"`
	Address        string                     `json:"address"`
	Capacity       int64                      `json:"capacity"`
	Used           int64                      `json:"used"`
	SpilledBytes   int64                      `json:"spilled_bytes"`
	SpilledObjects int                        `json:"spilled_objects"`
	FallbackBytes  int64                      `json:"fallback_bytes"`
	Objects        []protocol.StoreObjectInfo `json:"objects"`
	Error          string                     `json:"error,omitempty"`
}

// collectMemory asks every node for its store and every process that
// owns or refers to objects (drivers, actors, owners seen in stores) for
// its references.
func collectMemory(ctx context.Context, cf *clusterFlags) (*MemoryReport, error) {
	head, token, err := cf.dialHeadToken(ctx)
	if err != nil {
		return nil, err
	}
	defer head.Close()
	var st protocol.ClusterStatusReply
	if err := head.Call(ctx, protocol.HeadClusterStatus, &protocol.ClusterStatusRequest{}, &st); err != nil {
		return nil, fmt.Errorf("asking the head at %s: %w", head.Addr(), err)
	}
	rep := &MemoryReport{}
	procs := map[string]bool{}
	for _, n := range st.Nodes {
		if !n.Alive {
			continue
		}
		nm := NodeMemory{NodeID: n.Info.NodeID, Address: n.Info.Addr}
		var lo protocol.ListObjectsReply
		if err := call(ctx, n.Info.Addr, token, cf.opts, protocol.NodeListObjects, &protocol.Empty{}, &lo); err != nil {
			nm.Error = err.Error()
		} else {
			nm.Capacity, nm.Used, nm.SpilledBytes, nm.SpilledObjects, nm.FallbackBytes, nm.Objects =
				lo.Capacity, lo.Used, lo.SpilledBytes, lo.SpilledObjects, lo.FallbackBytes, lo.Objects
			for _, o := range lo.Objects {
				if o.Owner != "" {
					procs[o.Owner] = true
				}
			}
		}
		rep.Nodes = append(rep.Nodes, nm)
	}
	for _, j := range st.Jobs {
		if j.Alive && j.DriverAddr != "" {
			procs[j.DriverAddr] = true
		}
	}
	for _, a := range st.Actors {
		if a.State == protocol.ActorAlive && a.Addr != "" {
			procs[a.Addr] = true
		}
	}
	for _, p := range sortedKeys(procs) {
		var lr protocol.ListRefsReply
		if err := call(ctx, p, token, cf.opts, protocol.OwnerListRefs, &protocol.Empty{}, &lr); err == nil {
			rep.Processes = append(rep.Processes, lr)
		}
	}
	return rep, nil
}

func call(ctx context.Context, addr, token string, opts []rpc.Option, method string, req, resp any) error {
	c, err := rpc.Dial(ctx, addr, token, opts...)
	if err != nil {
		return err
	}
	defer c.Close()
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return c.Call(cctx, method, req, resp)
}

func bytesStr(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2fGiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1fMiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1fKiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%dB", n)
}

func refKinds(r protocol.RefInfo) string {
	var k []string
	if r.Local > 0 {
		k = append(k, fmt.Sprintf("LOCAL_REFERENCE×%d", r.Local))
	}
	if r.Submitted > 0 {
		k = append(k, fmt.Sprintf("USED_BY_PENDING_TASK×%d", r.Submitted))
	}
	if r.Contained > 0 {
		k = append(k, fmt.Sprintf("CAPTURED_IN_OBJECT×%d", r.Contained))
	}
	if r.Borrowers > 0 {
		k = append(k, fmt.Sprintf("BORROWED×%d", r.Borrowers))
	}
	if len(k) == 0 {
		return "-"
	}
	return strings.Join(k, " ")
}

func printMemory(w io.Writer, rep *MemoryReport) {
	fmt.Fprintln(w, "======== Object references (by process) ========")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROCESS\tPID\tOBJECT\tOWNER\tSIZE\tWHERE\tREFERENCE TYPE")
	n := 0
	for _, p := range rep.Processes {
		for _, r := range p.Refs {
			where := "owner's memory (inline)"
			switch {
			case r.Pending:
				where = "pending (task running)"
			case r.Stored != nil:
				where = "store of node " + short(r.Stored.NodeID)
			case !r.IsOwner:
				where = "borrowed"
			}
			owner := "self"
			if !r.IsOwner {
				owner = r.Owner
			}
			size := "-"
			if r.IsOwner && !r.Pending {
				size = bytesStr(r.Size)
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", p.Addr, p.Pid, r.ObjectID, owner, size, where, refKinds(r))
			n++
		}
	}
	_ = tw.Flush()
	if n == 0 {
		fmt.Fprintln(w, "  (no references)")
	}
	fmt.Fprintln(w, "\n======== Object stores (by node) ========")
	for _, nm := range rep.Nodes {
		if nm.Error != "" {
			fmt.Fprintf(w, "node %s: %s\n", short(nm.NodeID), nm.Error)
			continue
		}
		inMem, spilled := 0, 0
		for _, o := range nm.Objects {
			if o.Spilled {
				spilled++
			} else {
				inMem++
			}
		}
		fmt.Fprintf(w, "node %s (%s): %s / %s in memory (%d objects), %s spilled (%d objects), %s in fallback files\n",
			short(nm.NodeID), nm.Address, bytesStr(nm.Used), bytesStr(nm.Capacity), inMem, bytesStr(nm.SpilledBytes), spilled, bytesStr(nm.FallbackBytes))
		objs := append([]protocol.StoreObjectInfo(nil), nm.Objects...)
		sort.Slice(objs, func(i, j int) bool { return objs[i].ObjectID < objs[j].ObjectID })
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		if len(objs) > 0 {
			fmt.Fprintln(tw, "  OBJECT\tSIZE\tOWNER\tCOPY\tWHERE\tPINNED")
		}
		for _, o := range objs {
			copyKind := "primary"
			if !o.Primary {
				copyKind = "secondary"
			}
			where := "memory"
			if o.Spilled {
				where = "spilled to disk"
			} else if o.Fallback {
				where = "fallback file"
			}
			pinned := "no"
			if o.Pins > 0 {
				pinned = fmt.Sprintf("yes (%d)", o.Pins)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", o.ObjectID, bytesStr(o.Size), o.Owner, copyKind, where, pinned)
		}
		_ = tw.Flush()
	}
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rayo-dev/rayo/internal/protocol"
)

// Rows are what `rayo list` prints: flat maps, so that --filter works on
// any column and --format json is the same data.
type row = map[string]any

func newList() *cobra.Command {
	var cf clusterFlags
	var format string
	var filters []string
	var limit int
	cmd := &cobra.Command{
		Use:       "list nodes|actors|jobs|placement-groups",
		Short:     "List the cluster's nodes, actors, jobs or placement groups",
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"nodes", "actors", "jobs", "placement-groups"},
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "table" && format != "json" {
				return fmt.Errorf("--format must be table or json, not %q", format)
			}
			conds, err := parseFilters(filters)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
			defer cancel()
			st, err := cf.clusterStatus(ctx)
			if err != nil {
				return err
			}
			var rows []row
			var cols []string
			switch args[0] {
			case "nodes":
				cols = []string{"node_id", "state", "address", "is_head", "resources_total", "labels"}
				for _, n := range st.Nodes {
					state := n.StateName()
					rows = append(rows, row{"node_id": n.Info.NodeID, "state": state, "address": n.Info.Addr,
						"is_head": n.Info.IsHead, "resources_total": resString(n.Info.Total.ToFloat()), "labels": labels(n.Info.Labels)})
				}
			case "actors":
				cols = []string{"actor_id", "class_name", "name", "namespace", "state", "node_id", "pid", "restarts", "death_cause"}
				for _, a := range st.Actors {
					cause := ""
					if a.Death != nil {
						cause = a.Death.Code
					}
					rows = append(rows, row{"actor_id": a.ActorID, "class_name": a.Class, "name": a.Name, "namespace": a.Namespace,
						"state": a.State, "node_id": a.NodeID, "pid": a.Pid, "restarts": a.NumRestarts, "death_cause": cause})
				}
			case "jobs":
				cols = []string{"job_id", "status", "driver_pid", "entrypoint", "start_time"}
				for _, j := range st.Jobs {
					status := "RUNNING"
					if !j.Alive {
						status = "FINISHED"
					}
					rows = append(rows, row{"job_id": j.JobID, "status": status, "driver_pid": j.DriverPid,
						"entrypoint": j.Entrypoint, "start_time": time.UnixMilli(j.StartedAt).UTC().Format(time.RFC3339)})
				}
			case "placement-groups":
				cols = []string{"placement_group_id", "name", "state", "strategy", "bundles", "infeasible"}
				for _, g := range st.PGs {
					rows = append(rows, row{"placement_group_id": g.PGID, "name": g.Name, "state": g.State,
						"strategy": g.Strategy.String(), "bundles": bundlesString(g.Bundles), "infeasible": g.Infeasible})
				}
			default:
				return fmt.Errorf("unknown resource %q: use nodes, actors, jobs or placement-groups", args[0])
			}
			rows = applyFilters(rows, conds)
			if limit > 0 && len(rows) > limit {
				rows = rows[:limit]
			}
			if format == "json" {
				if rows == nil {
					rows = []row{}
				}
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rows)
			}
			printRows(cmd.OutOrStdout(), cols, rows)
			return nil
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVar(&format, "format", "table", "table or json")
	cmd.Flags().StringArrayVar(&filters, "filter", nil, "key=value or key!=value (repeatable)")
	cmd.Flags().IntVar(&limit, "limit", 0, "print at most this many rows")
	return cmd
}

func bundlesString(bs []protocol.BundleState) string {
	var parts []string
	for _, b := range bs {
		where := "unplaced"
		if b.NodeID != "" {
			where = "node " + short(b.NodeID)
		}
		parts = append(parts, fmt.Sprintf("#%d %s on %s", b.Index, resString(b.Resources.ToFloat()), where))
	}
	return strings.Join(parts, "; ")
}

type cond struct {
	key, value string
	not        bool
}

func parseFilters(fs []string) ([]cond, error) {
	var out []cond
	for _, f := range fs {
		if k, v, ok := strings.Cut(f, "!="); ok {
			out = append(out, cond{strings.TrimSpace(k), strings.TrimSpace(v), true})
			continue
		}
		k, v, ok := strings.Cut(f, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("--filter %q: want key=value or key!=value", f)
		}
		out = append(out, cond{strings.TrimSpace(k), strings.TrimSpace(v), false})
	}
	return out, nil
}

func applyFilters(rows []row, conds []cond) []row {
	var out []row
next:
	for _, r := range rows {
		for _, c := range conds {
			v, ok := r[c.key]
			match := ok && strings.EqualFold(fmt.Sprint(v), c.value)
			if match == c.not {
				continue next
			}
		}
		out = append(out, r)
	}
	return out
}

func printRows(w io.Writer, cols []string, rows []row) {
	if len(rows) == 0 {
		fmt.Fprintln(w, "(none)")
		return
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.ToUpper(strings.Join(cols, "\t")))
	for _, r := range rows {
		vals := make([]string, len(cols))
		for i, c := range cols {
			vals[i] = fmt.Sprint(r[c])
		}
		fmt.Fprintln(tw, strings.Join(vals, "\t"))
	}
	_ = tw.Flush()
}

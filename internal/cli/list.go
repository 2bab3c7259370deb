package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rayo-dev/rayo/dashboard"
)

// The state commands (list, get, summary, timeline) ask the head's HTTP
// API, so they show what the dashboard shows.

type row = dashboard.Row

// listKinds maps `rayo list` resources to API paths and table columns.
var listKinds = map[string]struct {
	path string
	cols []string
}{
	"nodes":            {"/api/v0/nodes", []string{"node_id", "state", "address", "is_head_node", "resources_total", "labels"}},
	"actors":           {"/api/v0/actors", []string{"actor_id", "class_name", "name", "namespace", "state", "node_id", "pid", "num_restarts", "death_cause"}},
	"tasks":            {"/api/v0/tasks", []string{"task_id", "name", "state", "type", "node_id", "worker_pid", "attempt", "error_type"}},
	"objects":          {"/api/v0/objects", []string{"object_id", "size_bytes", "node_id", "reference_type", "spilled", "owner_address"}},
	"jobs":             {"/api/v0/jobs", []string{"job_id", "status", "driver_pid", "entrypoint", "start_time_ms"}},
	"placement-groups": {"/api/v0/placement_groups", []string{"placement_group_id", "name", "state", "strategy", "bundles", "infeasible"}},
	"workers":          {"/api/v0/workers", []string{"worker_id", "node_id", "pid", "job_id", "state"}},
}

func kindNames() []string {
	names := make([]string, 0, len(listKinds))
	for k := range listKinds {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

func checkFormat(format string) error {
	if format != "table" && format != "json" {
		return fmt.Errorf("--format must be table or json, not %q", format)
	}
	return nil
}

func newList() *cobra.Command {
	var cf clusterFlags
	var format string
	var filters []string
	var limit int
	cmd := &cobra.Command{
		Use:       "list " + strings.Join(kindNames(), "|"),
		Short:     "List the cluster's nodes, actors, tasks, objects, jobs, placement groups or workers",
		Args:      cobra.ExactArgs(1),
		ValidArgs: kindNames(),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, ok := listKinds[args[0]]
			if !ok {
				return fmt.Errorf("unknown resource %q: use one of %s", args[0], strings.Join(kindNames(), ", "))
			}
			if err := checkFormat(format); err != nil {
				return err
			}
			q := url.Values{}
			for _, f := range filters {
				if _, err := dashboard.ParseFilter(f); err != nil {
					return err
				}
				q.Add("filter", f)
			}
			if limit > 0 {
				q.Set("limit", strconv.Itoa(limit))
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
			defer cancel()
			api, err := cf.api(ctx)
			if err != nil {
				return err
			}
			var reply dashboard.ListReply
			if err := api.get(ctx, kind.path, q, &reply); err != nil {
				return err
			}
			for _, w := range reply.Warnings {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning:", w)
			}
			if format == "json" {
				return printJSON(cmd.OutOrStdout(), reply.Result)
			}
			printRows(cmd.OutOrStdout(), kind.cols, reply.Result)
			if reply.Truncated {
				fmt.Fprintf(cmd.OutOrStdout(), "(%d of %d shown; --limit to see more)\n", len(reply.Result), reply.Total)
			}
			return nil
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVar(&format, "format", "table", "table or json")
	cmd.Flags().StringArrayVar(&filters, "filter", nil, "key=value or key!=value (repeatable; keys are the JSON field names)")
	cmd.Flags().IntVar(&limit, "limit", dashboard.DefaultLimit, "print at most this many rows")
	return cmd
}

func newGet() *cobra.Command {
	var cf clusterFlags
	paths := map[string]string{"actor": "/api/v0/actors/", "task": "/api/v0/tasks/", "node": "/api/v0/nodes/",
		"placement-group": "/api/v0/placement_groups/"}
	cmd := &cobra.Command{
		Use:   "get actor|task|node|placement-group ID",
		Short: "Show one actor, task, node or placement group, with every field",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, ok := paths[args[0]]
			if !ok {
				return fmt.Errorf("unknown resource %q: use actor, task, node or placement-group", args[0])
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
			defer cancel()
			api, err := cf.api(ctx)
			if err != nil {
				return err
			}
			var r row
			if err := api.get(ctx, p+url.PathEscape(args[1]), nil, &r); err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), r)
		},
	}
	cf.register(cmd)
	return cmd
}

func newSummary() *cobra.Command {
	var cf clusterFlags
	var format string
	cmd := &cobra.Command{
		Use:   "summary tasks|actors",
		Short: "Count tasks or actors by name and state",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] != "tasks" && args[0] != "actors" {
				return fmt.Errorf("unknown resource %q: use tasks or actors", args[0])
			}
			if err := checkFormat(format); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
			defer cancel()
			api, err := cf.api(ctx)
			if err != nil {
				return err
			}
			var sum dashboard.Summary
			if err := api.get(ctx, "/api/v0/summary/"+args[0], nil, &sum); err != nil {
				return err
			}
			if format == "json" {
				return printJSON(cmd.OutOrStdout(), sum)
			}
			printSummary(cmd.OutOrStdout(), args[0], &sum)
			return nil
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVar(&format, "format", "table", "table or json")
	return cmd
}

func printSummary(w io.Writer, what string, sum *dashboard.Summary) {
	fmt.Fprintf(w, "======== %s summary: %d in all ========\n", what, sum.Total)
	states := make([]string, 0, len(sum.ByState))
	for st := range sum.ByState {
		states = append(states, st)
	}
	sort.Strings(states)
	names := make([]string, 0, len(sum.ByName))
	for n := range sum.ByName {
		names = append(names, n)
	}
	sort.Strings(names)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\t"+strings.Join(states, "\t"))
	for _, n := range names {
		vals := []string{n}
		for _, st := range states {
			vals = append(vals, strconv.Itoa(sum.ByName[n][st]))
		}
		fmt.Fprintln(tw, strings.Join(vals, "\t"))
	}
	_ = tw.Flush()
}

func newTimeline() *cobra.Command {
	var cf clusterFlags
	var output, job string
	cmd := &cobra.Command{
		Use:   "timeline [--output FILE]",
		Short: "Write the Chrome trace of task and actor-call execution (open it in Perfetto or chrome://tracing)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
			defer cancel()
			api, err := cf.api(ctx)
			if err != nil {
				return err
			}
			q := url.Values{}
			if job != "" {
				q.Set("job_id", job)
			}
			var events []dashboard.TraceEvent
			if err := api.get(ctx, "/api/v0/timeline", q, &events); err != nil {
				return err
			}
			if output == "" {
				output = fmt.Sprintf("rayo-timeline-%s.json", time.Now().Format("2006-01-02_15-04-05"))
			}
			b, err := json.Marshal(events)
			if err != nil {
				return err
			}
			if err := os.WriteFile(output, b, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %d trace events to %s (open it at https://ui.perfetto.dev or chrome://tracing)\n", len(events), output)
			return nil
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVar(&output, "output", "", "the file to write (default: rayo-timeline-<time>.json)")
	cmd.Flags().StringVar(&job, "job-id", "", "only this job's tasks")
	return cmd
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
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
			vals[i] = cell(c, r[c])
		}
		fmt.Fprintln(tw, strings.Join(vals, "\t"))
	}
	_ = tw.Flush()
}

// cell formats one value for a table.
func cell(col string, v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case float64:
		if strings.HasSuffix(col, "_time_ms") {
			if x == 0 {
				return ""
			}
			return time.UnixMilli(int64(x)).UTC().Format(time.RFC3339)
		}
		return strconv.FormatFloat(x, 'f', -1, 64)
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + ": " + cell("", x[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case []any:
		if col == "bundles" {
			return bundlesCell(x)
		}
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = cell("", e)
		}
		return strings.Join(parts, "; ")
	}
	return fmt.Sprint(v)
}

func bundlesCell(bs []any) string {
	var parts []string
	for _, e := range bs {
		b, _ := e.(map[string]any)
		where := "unplaced"
		if id, _ := b["node_id"].(string); id != "" {
			where = "node " + short(id)
		}
		parts = append(parts, fmt.Sprintf("#%s %s on %s", cell("", b["index"]), cell("", b["resources"]), where))
	}
	return strings.Join(parts, "; ")
}

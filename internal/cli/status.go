package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/sched"
)

func newStatus() *cobra.Command {
	var cf clusterFlags
	var format string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the cluster's nodes, resources and pending demands",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "table" && format != "json" {
				return fmt.Errorf("--format must be table or json, not %q", format)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
			defer cancel()
			st, err := cf.clusterStatus(ctx)
			if err != nil {
				return err
			}
			rep := buildStatus(st)
			if format == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			printStatus(cmd.OutOrStdout(), rep)
			return nil
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVar(&format, "format", "table", "table or json")
	return cmd
}

// StatusReport is `rayo status --format json`.
type StatusReport struct {
	Nodes      []NodeReport       `json:"nodes"`
	Total      map[string]float64 `json:"total"`
	Used       map[string]float64 `json:"used"`
	Pending    []DemandReport     `json:"pending_demands"`
	Infeasible []DemandReport     `json:"infeasible_demands"`
	Actors     map[string]int     `json:"actors_by_state"`
	// PendingActors are actors waiting for a node: being placed, or
	// infeasible (no node can ever hold them).
	PendingActors []ActorReport `json:"pending_actors"`
	// PlacementGroups not removed, with their bundles and where they are.
	PlacementGroups []PGReport `json:"placement_groups"`
	// Dashboard is the head's HTTP API and dashboard (host:port).
	Dashboard string `json:"dashboard,omitempty"`
}

type PGReport struct {
	PGID       string         `json:"placement_group_id"`
	Name       string         `json:"name,omitempty"`
	State      string         `json:"state"`
	Strategy   string         `json:"strategy"`
	Infeasible bool           `json:"infeasible"`
	Bundles    []BundleReport `json:"bundles"`
}

type BundleReport struct {
	Index     int                `json:"index"`
	Resources map[string]float64 `json:"resources"`
	NodeID    string             `json:"node_id"`
}

type ActorReport struct {
	ActorID    string             `json:"actor_id"`
	Class      string             `json:"class"`
	Name       string             `json:"name,omitempty"`
	State      string             `json:"state"`
	Resources  map[string]float64 `json:"resources"`
	Infeasible bool               `json:"infeasible"`
}

type NodeReport struct {
	NodeID    string             `json:"node_id"`
	Address   string             `json:"address"`
	State     string             `json:"state"`
	IsHead    bool               `json:"is_head"`
	Total     map[string]float64 `json:"total"`
	Available map[string]float64 `json:"available"` // null for a DEAD node
	Labels    map[string]string  `json:"labels,omitempty"`
	Workers   int                `json:"workers"`
	// A DEAD node runs nothing and offers nothing: EndTimeMs is when the
	// head declared it dead (Unix ms), LastKnownAvailable what its last
	// heartbeat said.
	EndTimeMs          int64              `json:"end_time_ms,omitempty"`
	LastKnownAvailable map[string]float64 `json:"last_known_available,omitempty"`
	// Reason says why an unhealthy node drains or left.
	Reason string `json:"reason,omitempty"`
}

type DemandReport struct {
	Resources map[string]float64 `json:"resources"`
	Count     int                `json:"count"`
	NodeID    string             `json:"node_id"`
}

func buildStatus(st *protocol.ClusterStatusReply) *StatusReport {
	total, used := sched.Resources{}, sched.Resources{}
	rep := &StatusReport{Pending: []DemandReport{}, Infeasible: []DemandReport{}, Dashboard: st.DashboardAddr}
	for _, n := range st.Nodes {
		state := n.StateName()
		nr := NodeReport{NodeID: n.Info.NodeID, Address: n.Info.Addr, State: state,
			IsHead: n.Info.IsHead, Total: n.Info.Total.ToFloat(), Available: n.Available.ToFloat(),
			Labels: n.Info.Labels, Workers: n.Workers, Reason: n.Reason}
		if !n.Alive {
			// What a dead node last reported is history, not usage.
			nr.LastKnownAvailable, nr.Available, nr.Workers, nr.EndTimeMs = nr.Available, nil, 0, n.DiedAt
		}
		rep.Nodes = append(rep.Nodes, nr)
		if !n.Alive {
			continue
		}
		total.Add(n.Info.Total)
		u := n.Info.Total.Clone()
		u.Sub(n.Available)
		used.Add(u)
		for _, d := range n.Demands {
			dr := DemandReport{Resources: d.Shape.ToFloat(), Count: d.Count, NodeID: n.Info.NodeID}
			if d.Infeasible {
				rep.Infeasible = append(rep.Infeasible, dr)
			} else {
				rep.Pending = append(rep.Pending, dr)
			}
		}
	}
	rep.Total, rep.Used = total.ToFloat(), used.ToFloat()
	rep.Actors = map[string]int{}
	rep.PendingActors = []ActorReport{}
	for _, a := range st.Actors {
		rep.Actors[a.State]++
		if a.State == protocol.ActorPending || a.State == protocol.ActorRestarting {
			rep.PendingActors = append(rep.PendingActors, ActorReport{ActorID: a.ActorID, Class: a.Class, Name: a.Name,
				State: a.State, Resources: a.Resources.ToFloat(), Infeasible: a.Infeasible})
		}
	}
	rep.PlacementGroups = []PGReport{}
	for _, g := range st.PGs {
		if g.State == protocol.PGRemoved {
			continue
		}
		pr := PGReport{PGID: g.PGID, Name: g.Name, State: g.State, Strategy: g.Strategy.String(), Infeasible: g.Infeasible}
		for _, b := range g.Bundles {
			pr.Bundles = append(pr.Bundles, BundleReport{Index: b.Index, Resources: b.Resources.ToFloat(), NodeID: b.NodeID})
		}
		rep.PlacementGroups = append(rep.PlacementGroups, pr)
	}
	return rep
}

func printStatus(w io.Writer, rep *StatusReport) {
	alive, dead := 0, 0
	for _, n := range rep.Nodes {
		if n.State != "DEAD" {
			alive++
		} else {
			dead++
		}
	}
	fmt.Fprintf(w, "======== Cluster status: %d node(s) alive, %d dead ========\n", alive, dead)
	if rep.Dashboard != "" {
		fmt.Fprintf(w, "Dashboard: http://%s (log in with the cluster token)\n", rep.Dashboard)
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tSTATE\tADDRESS\tRESOURCES (used/total)\tWORKERS\tLABELS")
	for _, n := range rep.Nodes {
		if n.State == "DEAD" {
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", nodeName(n), n.State, n.Address, usage(n.Total, n.Available), n.Workers, labels(n.Labels))
	}
	_ = tw.Flush()
	if dead > 0 {
		// Apart, with no usage: a dead node runs nothing, and what it
		// last reported would read as current.
		fmt.Fprintln(w, "\nDead nodes (not counted in the resources below)")
		tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NODE\tSTATE\tADDRESS\tDIED\tLABELS")
		for _, n := range rep.Nodes {
			if n.State == "DEAD" {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", nodeName(n), n.State, n.Address, diedAt(n.EndTimeMs, time.Now()), labels(n.Labels))
			}
		}
		_ = tw.Flush()
	}
	for _, n := range rep.Nodes {
		if n.Reason != "" {
			fmt.Fprintf(w, "Node %s is %s: %s\n", n.NodeID, n.State, n.Reason)
		}
	}
	fmt.Fprintln(w, "\nResources")
	names := sortedKeys(rep.Total)
	for _, k := range names {
		fmt.Fprintf(w, "  %s/%s %s\n", num(k, rep.Used[k]), num(k, rep.Total[k]), k)
	}
	fmt.Fprintln(w, "\nPending demands")
	if len(rep.Pending) == 0 {
		fmt.Fprintln(w, "  (none)")
	}
	for _, d := range rep.Pending {
		fmt.Fprintf(w, "  %s: %d waiting (queued on node %s)\n", resString(d.Resources), d.Count, d.NodeID)
	}
	fmt.Fprintln(w, "\nInfeasible demands (no node can ever hold them)")
	if len(rep.Infeasible) == 0 {
		fmt.Fprintln(w, "  (none)")
	}
	for _, d := range rep.Infeasible {
		fmt.Fprintf(w, "  %s: %d waiting for a node that fits\n", resString(d.Resources), d.Count)
	}
	fmt.Fprintln(w, "\nActors")
	if len(rep.Actors) == 0 {
		fmt.Fprintln(w, "  (none)")
	}
	for _, st := range sortedKeys(rep.Actors) {
		fmt.Fprintf(w, "  %d %s\n", rep.Actors[st], st)
	}
	for _, a := range rep.PendingActors {
		why := "waiting to be placed"
		if a.Infeasible {
			why = "INFEASIBLE: no node can ever hold it"
		}
		name := a.Class
		if a.Name != "" {
			name += " " + strconv.Quote(a.Name)
		}
		fmt.Fprintf(w, "  %s %s needs %s: %s\n", name, a.ActorID, resString(a.Resources), why)
	}
	fmt.Fprintln(w, "\nPlacement groups")
	if len(rep.PlacementGroups) == 0 {
		fmt.Fprintln(w, "  (none)")
	}
	for _, g := range rep.PlacementGroups {
		state := g.State
		if g.Infeasible {
			state += " (INFEASIBLE: no set of nodes can ever hold it)"
		}
		fmt.Fprintf(w, "  %s %s %s %s\n", g.PGID, g.Name, g.Strategy, state)
		for _, b := range g.Bundles {
			where := "not placed"
			if b.NodeID != "" {
				where = "on node " + b.NodeID
			}
			fmt.Fprintf(w, "    bundle %d %s %s\n", b.Index, resString(b.Resources), where)
		}
	}
}

func nodeName(n NodeReport) string {
	if n.IsHead {
		return n.NodeID + " (head)"
	}
	return n.NodeID
}

// diedAt says when a node died (Unix ms), and how long ago.
func diedAt(ms int64, now time.Time) string {
	if ms <= 0 {
		return "unknown"
	}
	t := time.UnixMilli(ms)
	ago := now.Sub(t).Round(time.Second)
	if ago < 0 {
		ago = 0
	}
	return fmt.Sprintf("%s (%s ago)", t.UTC().Format(time.RFC3339), ago)
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func num(name string, v float64) string {
	if name == "memory" {
		return fmt.Sprintf("%.1fGiB", v/(1<<30))
	}
	return fmt.Sprintf("%g", v)
}

func usage(total, avail map[string]float64) string {
	var parts []string
	for _, k := range sortedKeys(total) {
		parts = append(parts, fmt.Sprintf("%s %s/%s", k, num(k, total[k]-avail[k]), num(k, total[k])))
	}
	return strings.Join(parts, ", ")
}

func resString(r map[string]float64) string {
	var parts []string
	for _, k := range sortedKeys(r) {
		parts = append(parts, fmt.Sprintf("%s: %s", k, num(k, r[k])))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func labels(l map[string]string) string {
	var parts []string
	for _, k := range sortedKeys(l) {
		parts = append(parts, k+"="+l[k])
	}
	return strings.Join(parts, ",")
}

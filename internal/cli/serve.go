package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// `rayo serve status`: Serve's applications, deployments and replicas,
// as the Serve controller last published them (the dashboard's
// /api/serve/applications). The other serve commands are in
// serve_ops.go and serve_run.go.

func newServe() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Deploy, inspect, run and shut down Serve applications",
	}
	cmd.AddCommand(newServeStatus(), newServeDeploy(), newServeConfig(), newServeShutdown(), newServeRun())
	return cmd
}

// serveStatus mirrors serve.Status's JSON (the CLI does not import the
// library).
type serveStatus struct {
	Applications []struct {
		Name        string `json:"name"`
		RoutePrefix string `json:"route_prefix"`
		Status      string `json:"status"`
		Deployments []struct {
			Name        string `json:"name"`
			Status      string `json:"status"`
			Wanted      int    `json:"replicas_wanted"`
			Running     int    `json:"replicas_running"`
			Version     string `json:"version"`
			Autoscaling string `json:"autoscaling"`
			Message     string `json:"message"`
			Replicas    []struct {
				ID      string `json:"replica_id"`
				State   string `json:"state"`
				Version string `json:"version"`
			} `json:"replicas"`
		} `json:"deployments"`
	} `json:"applications"`
	Stopping int `json:"replicas_stopping"`
}

func newServeStatus() *cobra.Command {
	var cf clusterFlags
	var format string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show Serve's applications, deployments, replicas and last autoscaling decisions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "table" && format != "json" {
				return fmt.Errorf("--format must be table or json, not %q", format)
			}
			c, err := cf.api(cmd.Context())
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.get(cmd.Context(), "/api/serve/applications/", nil, &raw); err != nil {
				return err
			}
			if format == "json" {
				_, err := fmt.Fprintln(cmd.OutOrStdout(), string(raw))
				return err
			}
			var st serveStatus
			if err := json.Unmarshal(raw, &st); err != nil {
				return fmt.Errorf("reading Serve's status: %w", err)
			}
			printServeStatus(cmd.OutOrStdout(), &st)
			return nil
		},
	}
	cf.registerJob(cmd)
	cmd.Flags().StringVar(&format, "format", "table", "table or json")
	return cmd
}

func printServeStatus(w io.Writer, st *serveStatus) {
	if len(st.Applications) == 0 {
		fmt.Fprintln(w, "No Serve applications.")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, a := range st.Applications {
		fmt.Fprintf(tw, "application %s\t%s\t%s\n", a.Name, a.RoutePrefix, a.Status)
		for _, d := range a.Deployments {
			fmt.Fprintf(tw, "  deployment %s\t%s\treplicas %d/%d\tversion %s\n", d.Name, d.Status, d.Running, d.Wanted, d.Version)
			if d.Message != "" {
				fmt.Fprintf(tw, "    %s\n", d.Message)
			}
			if d.Autoscaling != "" {
				fmt.Fprintf(tw, "    autoscaling: %s\n", d.Autoscaling)
			}
			for _, r := range d.Replicas {
				fmt.Fprintf(tw, "    %s\t%s\t%s\n", r.ID, r.State, r.Version)
			}
		}
	}
	if st.Stopping > 0 {
		fmt.Fprintf(tw, "%d replicas of removed applications stopping\n", st.Stopping)
	}
	_ = tw.Flush()
}

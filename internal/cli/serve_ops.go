package cli

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// `rayo serve deploy`, `rayo serve config` and `rayo serve shutdown`
// (Ray's serve deploy, config and shutdown), through the dashboard's
// /api/serve/ endpoints, which hand them to the Serve controller.

// serveOpReply is the dashboard's answer to a deploy or shutdown
// (dashboard.ServeOpReply). Pending comes with 202 Accepted: the
// controller is still carrying the request out, which is no failure.
type serveOpReply struct {
	Running bool   `json:"running"`
	Pending bool   `json:"pending"`
	Message string `json:"message"`
}

func newServeDeploy() *cobra.Command {
	var cf clusterFlags
	cmd := &cobra.Command{
		Use:   "deploy CONFIG_FILE",
		Short: "Apply a Serve config file: the whole set of applications (those it does not name are deleted)",
		Long: `Apply a Serve config file (YAML or JSON, Ray's serve deploy schema). The file is the
whole desired set: running applications it does not name are deleted. Each application's
import_path names a builder registered (serve.RegisterBuilder) in the binary that started
Serve. A malformed file is refused with the fields at fault, and nothing changes;
http_options and proxy_location cannot change while Serve runs (rayo serve shutdown first).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			file, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			c, err := cf.api(cmd.Context())
			if err != nil {
				return err
			}
			var rep serveOpReply
			if err := c.do(cmd.Context(), http.MethodPut, "/api/serve/applications/", nil, bytes.NewReader(file), "application/yaml", &rep); err != nil {
				return err
			}
			if rep.Pending {
				fmt.Fprintln(cmd.OutOrStdout(), rep.Message)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Serve accepted %s. `rayo serve status` shows the applications as they deploy.\n", args[0])
			return nil
		},
	}
	cf.registerJob(cmd)
	return cmd
}

func newServeConfig() *cobra.Command {
	var cf clusterFlags
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Print the last Serve config applied",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.api(cmd.Context())
			if err != nil {
				return err
			}
			resp, err := c.send(cmd.Context(), http.MethodGet, "/api/serve/config", nil, nil, "")
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			_, err = io.Copy(cmd.OutOrStdout(), resp.Body)
			return err
		},
	}
	cf.registerJob(cmd)
	return cmd
}

func newServeShutdown() *cobra.Command {
	var cf clusterFlags
	var yes bool
	cmd := &cobra.Command{
		Use:   "shutdown",
		Short: "Shut Serve down: delete every application, stop its replicas, the proxies and the controller",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !yes {
				fmt.Fprint(cmd.OutOrStdout(), "This deletes every Serve application on the cluster and stops Serve. Continue? [y/N] ")
				line, _ := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
				if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
					return fmt.Errorf("not confirmed: nothing was shut down (--yes skips the question)")
				}
			}
			c, err := cf.api(cmd.Context())
			if err != nil {
				return err
			}
			var rep serveOpReply
			if err := c.do(cmd.Context(), http.MethodDelete, "/api/serve/applications/", nil, nil, "", &rep); err != nil {
				return err
			}
			switch {
			case rep.Pending:
				fmt.Fprintln(cmd.OutOrStdout(), rep.Message)
				return nil
			case !rep.Running:
				fmt.Fprintln(cmd.OutOrStdout(), "Serve is not running on this cluster: nothing to shut down.")
				return nil
			}
			fmt.Fprintln(cmd.OutOrStdout(), "Serve is shut down.")
			return nil
		},
	}
	cf.registerJob(cmd)
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

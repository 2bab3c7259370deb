package cli

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"time"

	"github.com/spf13/cobra"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/internal/microbench"
)

func newMicrobenchmark() *cobra.Command {
	var (
		filter, address, token, tempDir string
		asJSON, scale                   bool
		trial                           time.Duration
		so                              microbench.ScaleOptions
		actors                          int
		actorsEnv                       map[string]string
		cf                              clusterBenchFlags
	)
	cmd := &cobra.Command{
		Use:   "microbenchmark",
		Short: "Run Ray's core microbenchmark rows on the embedded cluster (or --address)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o := microbench.Options{Trial: trial}
			if filter != "" {
				re, err := regexp.Compile(filter)
				if err != nil {
					return fmt.Errorf("--filter: %w", err)
				}
				o.Filter = re
			}
			if !asJSON {
				o.Progress = cmd.OutOrStdout()
			}
			ctx := context.Background()
			if cf.nodes != "" {
				start := time.Now()
				rs, err := cf.run(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr(), o.Filter, asJSON, clusterTempDir(cmd, tempDir))
				if asJSON && len(rs) > 0 {
					if jerr := microbench.JSON(cmd.OutOrStdout(), rs); jerr != nil && err == nil {
						err = jerr
					}
				}
				if err != nil {
					return err
				}
				if !asJSON {
					fmt.Fprintf(cmd.OutOrStdout(), "(%d rows in %s)\n", len(rs), time.Since(start).Round(time.Second))
				}
				return nil
			}
			opts := []rayo.InitOption{rayo.WithLogToDriver(false), rayo.WithTempDir(tempDir)}
			if address != "" {
				opts = append(opts, rayo.WithAddress(address))
			} else {
				// The placement group row reserves bundles of a custom
				// resource, as Ray's does.
				opts = append(opts, rayo.WithResources(map[string]float64{"custom": 100}))
			}
			if token != "" {
				opts = append(opts, rayo.WithToken(token))
			}
			if err := rayo.Init(ctx, opts...); err != nil {
				return err
			}
			defer rayo.Shutdown()
			start := time.Now()
			var rs []microbench.Result
			var err error
			if actors > 0 {
				rs, err = microbench.RunManyActorsEnv(ctx, o, actors, headPid(tempDir, address), actorsEnv)
			} else if scale {
				if address != "" {
					so.NodePid = driverNodePid(ctx, tempDir, address, token)
				}
				rs, err = microbench.RunScale(ctx, o, so)
			} else {
				rs, err = microbench.Run(ctx, o)
			}
			if err != nil {
				return err
			}
			if asJSON {
				return microbench.JSON(cmd.OutOrStdout(), rs)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "(%d rows in %s)\n", len(rs), time.Since(start).Round(time.Second))
			return nil
		},
	}
	cmd.Flags().StringVar(&filter, "filter", "", "run only the rows whose name matches this regular expression")
	cmd.Flags().BoolVar(&asJSON, "json", false, `print [{"name", "value", "stddev", "unit"}] instead of a table`)
	cmd.Flags().StringVar(&address, "address", "", "run on this cluster instead of an embedded one (auto: the local one)")
	registerToken(cmd.Flags(), &token)
	cmd.Flags().StringVar(&tempDir, "temp-dir", "/tmp/rayo", "where session directories live")
	cmd.Flags().BoolVar(&scale, "scale", false, "run the scale rows (many args, many objects, many queued tasks, peak memory) instead")
	cmd.Flags().IntVar(&so.Args, "scale-args", 10000, "--scale: object arguments to one task")
	cmd.Flags().IntVar(&so.Returns, "scale-returns", 3000, "--scale: return values of one task")
	cmd.Flags().IntVar(&so.Objects, "scale-objects", 10000, "--scale: objects in one GetAll")
	cmd.Flags().IntVar(&so.QueuedTasks, "scale-tasks", 1000000, "--scale: tasks queued at once")
	cmd.Flags().IntVar(&actors, "actors", 0, "run the many-actors rows instead: create this many zero-CPU actors, call each once, kill them (time per phase, memory per actor process, head memory)")
	cmd.Flags().StringToStringVar(&actorsEnv, "actors-env", nil, "--actors: environment of the actors' processes (GOGC=50,GODEBUG=...)")
	cf.register(cmd)
	cmd.Flags().DurationVar(&trial, "trial", 1500*time.Millisecond, "duration of each of a row's 4 trials")
	return cmd
}

// clusterTempDir is where --cluster-nodes puts its runs: --temp-dir when
// given, else the system's temporary directory (not /tmp/rayo, where a
// user's own cluster lives).
func clusterTempDir(cmd *cobra.Command, tempDir string) string {
	if cmd.Flags().Changed("temp-dir") {
		return tempDir
	}
	return ""
}

// driverNodePid is the pid of the node daemon this driver submits
// through, when it runs on this machine; 0 if unknown.
func driverNodePid(ctx context.Context, tempDir, address, token string) int {
	if address == "auto" {
		address = "" // the local session's
	}
	f := clusterFlags{tempDir: tempDir, address: address, token: token}
	st, err := f.clusterStatus(ctx)
	if err != nil {
		return 0
	}
	host, _ := os.Hostname()
	for _, n := range st.Nodes {
		if n.Info.NodeID == rayo.NodeID() && n.Info.Hostname == host {
			return n.Info.Pid
		}
	}
	return 0
}

package cli

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/spf13/cobra"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/internal/microbench"
)

func newMicrobenchmark() *cobra.Command {
	var (
		filter, address, token, tempDir string
		asJSON                          bool
		trial                           time.Duration
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
			rs, err := microbench.Run(ctx, o)
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
	cmd.Flags().StringVar(&token, "token", "", "the cluster token (default: RAYO_TOKEN, then the local session)")
	cmd.Flags().StringVar(&tempDir, "temp-dir", "/tmp/rayo", "where session directories live")
	cmd.Flags().DurationVar(&trial, "trial", 1500*time.Millisecond, "duration of each of a row's 4 trials")
	return cmd
}

package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/internal/pybridge"
)

// bridgeConfig is what a Python driver's rayo.init() asks of its bridge,
// in RAYO_BRIDGE_CONFIG (JSON): Init's options under Ray's names. The
// cluster's token, if any, is in RAYO_TOKEN, never in argv.
type bridgeConfig struct {
	Address           string             `json:"address"`
	Namespace         string             `json:"namespace"`
	NumCPUs           *float64           `json:"num_cpus"`
	NumGPUs           *float64           `json:"num_gpus"`
	Resources         map[string]float64 `json:"resources"`
	ObjectStoreMemory int64              `json:"object_store_memory"`
	TempDir           string             `json:"temp_dir"`
	Env               map[string]string  `json:"env_vars"`
	LogToDriver       *bool              `json:"log_to_driver"`
	// JobBinary is the Go program the job's workers run (go_binary=).
	JobBinary string `json:"job_binary"`
	// Entrypoint is the Python driver's command line, for rayo list jobs.
	Entrypoint string `json:"entrypoint"`
}

func (c *bridgeConfig) options() []rayo.InitOption {
	var opts []rayo.InitOption
	if c.Address != "" {
		opts = append(opts, rayo.WithAddress(c.Address))
	}
	if c.Namespace != "" {
		opts = append(opts, rayo.WithNamespace(c.Namespace))
	}
	if c.NumCPUs != nil {
		opts = append(opts, rayo.WithNumCPUs(*c.NumCPUs))
	}
	if c.NumGPUs != nil {
		opts = append(opts, rayo.WithNumGPUs(*c.NumGPUs))
	}
	if len(c.Resources) > 0 {
		opts = append(opts, rayo.WithResources(c.Resources))
	}
	if c.ObjectStoreMemory != 0 {
		opts = append(opts, rayo.WithObjectStoreMemory(c.ObjectStoreMemory))
	}
	if c.TempDir != "" {
		opts = append(opts, rayo.WithTempDir(c.TempDir))
	}
	if len(c.Env) > 0 {
		opts = append(opts, rayo.WithEnv(c.Env))
	}
	if c.Entrypoint != "" {
		opts = append(opts, rayo.WithEntrypoint(c.Entrypoint))
	}
	if c.JobBinary != "" {
		opts = append(opts, rayo.WithJobBinary(c.JobBinary))
	}
	if c.LogToDriver != nil {
		opts = append(opts, rayo.WithLogToDriver(*c.LogToDriver))
	}
	return opts
}

// newPythonBridge is the Go side of a Python driver (internal/pybridge):
// started by rayo.init() with its ends of two socket pairs as descriptors,
// it joins or starts the cluster and serves the driver until it goes.
func newPythonBridge() *cobra.Command {
	return &cobra.Command{
		Use:    "python-bridge",
		Short:  "serve a Python driver (started by the rayo Python package)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fds := os.Getenv("RAYO_BRIDGE_FD")
			token := os.Getenv("RAYO_BRIDGE_TOKEN")
			if token == "" {
				return fmt.Errorf("python-bridge: no RAYO_BRIDGE_TOKEN")
			}
			var cfg bridgeConfig
			if s := os.Getenv("RAYO_BRIDGE_CONFIG"); s != "" {
				if err := json.Unmarshal([]byte(s), &cfg); err != nil {
					return fmt.Errorf("python-bridge: RAYO_BRIDGE_CONFIG: %v", err)
				}
			}
			// What the driver told this process is not for the workers the
			// embedded cluster starts.
			for _, k := range []string{"RAYO_BRIDGE_TOKEN", "RAYO_BRIDGE_FD", "RAYO_BRIDGE_CONFIG"} {
				_ = os.Unsetenv(k)
			}
			// Ctrl-C in the driver's terminal is the driver's to handle
			// (a KeyboardInterrupt it may catch): this process ends when
			// the driver's ends of the socket pairs close.
			signal.Ignore(os.Interrupt)
			bridgeProcs()
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
			defer rayo.Shutdown()
			return pybridge.ServeDriver(fds, token, log, func() error { return rayo.Init(context.Background(), cfg.options()...) })
		},
	}
}

// bridgeProcs lowers the bridge's GOMAXPROCS to half the machine's cores
// (at least one) unless GOMAXPROCS is set. A bridge serves one Python
// process, whose calls come one after another: with fewer Ps its
// goroutines hand over less between threads (a synchronous Python call
// 10–30% faster with one P than two on 2 cores, async calls the same),
// and half the cores leave an embedded cluster's head and node room on a
// larger machine. Its workers keep the machine's count (node.startProcs).
func bridgeProcs() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(max(1, runtime.NumCPU()/2))
	}
}

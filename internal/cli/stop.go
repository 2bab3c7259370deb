package cli

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/rayo-dev/rayo/internal/session"
)

func newStop() *cobra.Command {
	var tempDir string
	var grace time.Duration
	cmd := &cobra.Command{
		Use:   "stop",
		Short: "Stop every rayo daemon started on this machine, and their workers",
		Long: `Stop every rayo daemon started on this machine, and their workers. The
cluster ends: the head's state (in <temp-dir>/head) is deleted, so the next
rayo start --head starts a new cluster even if the last head had crashed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			n, err := stopAll(tempDir, grace)
			if err != nil {
				return err
			}
			forgetHead(filepath.Join(tempDir, "head"), slog.Default())
			fmt.Fprintf(cmd.OutOrStdout(), "stopped %d rayo daemon(s)\n", n)
			return nil
		},
	}
	cmd.Flags().StringVar(&tempDir, "temp-dir", session.DefaultTempDir, "where session directories live")
	cmd.Flags().DurationVar(&grace, "grace-period", 10*time.Second, "how long daemons get to stop before SIGKILL")
	return cmd
}

// stopAll sends SIGTERM to every daemon recorded in any session under
// tempDir, waits for them, and kills those that outlast the grace period.
// Workers die with their daemon (they watch it), so stopping the daemons
// stops everything.
func stopAll(tempDir string, grace time.Duration) (int, error) {
	sessions, err := session.AllSessions(tempDir)
	if err != nil {
		return 0, err
	}
	type victim struct {
		dir  *session.Dir
		name string
		pid  int
	}
	var vs []victim
	for _, d := range sessions {
		pids, err := d.Pids()
		if err != nil {
			continue
		}
		for name, pid := range pids {
			if !isRayoDaemon(pid) {
				_ = d.RemovePid(name) // stale: the process is gone or is not ours
				continue
			}
			vs = append(vs, victim{d, name, pid})
		}
	}
	for _, v := range vs {
		_ = syscall.Kill(v.pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(grace)
	for _, v := range vs {
		waitOrKill(v.pid, deadline)
		_ = v.dir.RemovePid(v.name)
	}
	return len(vs), nil
}

// waitOrKill waits for a signalled process to exit, polling, and kills it
// if it is still there at the deadline.
func waitOrKill(pid int, deadline time.Time) {
	for alive(pid) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if alive(pid) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return !errors.Is(err, syscall.ESRCH)
	}
	// A zombie (exited, not yet reaped by its parent) counts as gone.
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	if i := strings.LastIndexByte(string(b), ')'); i > 0 && i+2 < len(b) {
		return b[i+2] != 'Z'
	}
	return true
}

// isRayoDaemon checks that pid is a rayo start process, so that a stale
// pid file never makes us signal an unrelated process that reused the pid.
func isRayoDaemon(pid int) bool {
	if !alive(pid) {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	args := strings.Split(string(b), "\x00")
	for i, a := range args {
		if a == "start" && i > 0 {
			return true
		}
	}
	return false
}

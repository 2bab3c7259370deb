package cli

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
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
		proc session.Proc
	}
	var vs []victim
	for _, d := range sessions {
		procs, err := d.Procs()
		if err != nil {
			continue
		}
		for name, p := range procs {
			if !isRayoDaemon(d, p) {
				_ = d.RemovePid(name) // stale: the process is gone or is not ours
				continue
			}
			vs = append(vs, victim{d, name, p})
		}
	}
	for _, v := range vs {
		_ = syscall.Kill(v.proc.Pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(grace)
	for _, v := range vs {
		waitOrKill(v.proc, deadline)
		_ = v.dir.RemovePid(v.name)
	}
	return len(vs), nil
}

// waitOrKill waits for a signalled daemon to exit, polling, and kills it
// if it is still there at the deadline (and still the same process: its
// pid may have been reused meanwhile).
func waitOrKill(p session.Proc, deadline time.Time) {
	for p.Running() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if p.Running() {
		_ = syscall.Kill(p.Pid, syscall.SIGKILL)
	}
}

// isRayoDaemon checks that the process a pid file (or a head's record)
// names is still that rayo daemon of sess before anyone signals it: a
// stale record whose pid the kernel gave to an unrelated process once
// made `rayo stop` kill a `python3 ... start`. All must hold:
//   - the process is the one recorded: alive (not a zombie) and, where the
//     record has them, started at the recorded time in the recorded boot;
//   - its executable is a rayo binary: the one recorded, or ours;
//   - it holds a file of sess open (every daemon keeps its log file there
//     open for its life), so it is this session's daemon, not another's.
func isRayoDaemon(sess *session.Dir, rec session.Proc) bool {
	cur, err := session.Identify(rec.Pid)
	if err != nil || !rec.Same(cur) {
		return false
	}
	if !isRayoExe(rec, cur) {
		return false
	}
	return sess.HeldBy(rec.Pid)
}

// isRayoExe reports whether the process cur runs the executable the
// record names or the same file as this process (also when either was
// replaced on disk since: /proc/<pid>/exe still reaches the file run).
func isRayoExe(rec, cur session.Proc) bool {
	if cur.Exe == "" {
		return false // unreadable: another user's process
	}
	if rec.Exe != "" && rec.Start != 0 && cur.Exe == rec.Exe {
		return true
	}
	theirs, err := os.Stat("/proc/" + strconv.Itoa(cur.Pid) + "/exe")
	if err != nil {
		return false
	}
	ours, err := os.Stat("/proc/self/exe")
	return err == nil && os.SameFile(theirs, ours)
}

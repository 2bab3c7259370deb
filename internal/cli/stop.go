package cli

import (
	"fmt"
	"io"
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
			n, err := stopAll(tempDir, grace, cmd.ErrOrStderr())
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
// stops everything. A record whose process is gone, or is not a daemon
// of that session, is deleted; one whose process is the session's but
// runs an executable not known for rayo's is neither signalled nor
// deleted, and a line on notes says so.
func stopAll(tempDir string, grace time.Duration, notes io.Writer) (int, error) {
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
			switch v, cur := checkDaemon(d, p); v {
			case notDaemon:
				_ = d.RemovePid(name) // stale: the process is gone or is not ours
			case unknownExe:
				// Alive, holding the session's files: most likely a rayo
				// daemon whose binary is not known for rayo's. Deleting
				// the record would leave it running with nothing that
				// names it.
				if notes != nil {
					fmt.Fprintf(notes, "rayo stop: left %s: pid %d holds files of the session but runs %q, not known as a rayo binary; not signalled (stop it yourself, then delete the file)\n",
						filepath.Join(d.PidsDir(), name+".pid"), p.Pid, cur.Exe)
				}
			default:
				vs = append(vs, victim{d, name, p})
			}
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
//   - it holds a file of sess open (every daemon keeps its log file there
//     open for its life), so it is this session's daemon, not another's;
//   - its executable is a rayo binary (isRayoExe).
func isRayoDaemon(sess *session.Dir, rec session.Proc) bool {
	v, _ := checkDaemon(sess, rec)
	return v == rayoDaemon
}

// verdict is what checkDaemon found behind a record.
type verdict int

const (
	// notDaemon: the process is gone, or is not a daemon of the session
	// (a pid reused by another process, a daemon of another session).
	notDaemon verdict = iota
	// unknownExe: the recorded process, holding a file of the session,
	// but its executable is none isRayoExe knows.
	unknownExe
	// rayoDaemon: the session's rayo daemon.
	rayoDaemon
)

// checkDaemon says what the process rec names is (see isRayoDaemon),
// and returns that process as read from /proc.
func checkDaemon(sess *session.Dir, rec session.Proc) (verdict, session.Proc) {
	cur, err := session.Identify(rec.Pid)
	if err != nil || !rec.Same(cur) || !sess.HeldBy(rec.Pid) {
		return notDaemon, cur
	}
	if !isRayoExe(rec, cur) {
		return unknownExe, cur
	}
	return rayoDaemon, cur
}

// isRayoExe reports whether the process cur runs a rayo binary: the
// executable the record names, or the same file as this process (also
// when either was replaced on disk since: /proc/<pid>/exe still reaches
// the file run). For a record without a start time (a pid file of an
// older rayo, which records nothing else) that file is most often gone:
// the upgrade that brought this rayo replaced it (`go install` does), so
// its path, less the " (deleted)" the kernel appends, is enough when it
// is ours or its name is rayo.
func isRayoExe(rec, cur session.Proc) bool {
	if cur.Exe == "" {
		return false // unreadable: another user's process
	}
	if rec.Exe != "" && rec.Start != 0 && cur.Exe == rec.Exe {
		return true
	}
	if rec.Start == 0 {
		if filepath.Base(cur.Exe) == "rayo" {
			return true
		}
		if self, err := session.Identify(os.Getpid()); err == nil && self.Exe != "" && cur.Exe == self.Exe {
			return true
		}
	}
	theirs, err := os.Stat("/proc/" + strconv.Itoa(cur.Pid) + "/exe")
	if err != nil {
		return false
	}
	ours, err := os.Stat("/proc/self/exe")
	return err == nil && os.SameFile(theirs, ours)
}

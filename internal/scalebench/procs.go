package scalebench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// MarkerEnv tags every process a run starts (and, through the node
// daemons' environment, their workers), so that a sweep finds them all.
const MarkerEnv = "RAYO_SCALEBENCH_MARKER"

const stopTimeout = 10 * time.Second

// proc is a daemon the harness started, in its own process group.
type proc struct {
	name string
	pid  int
	log  string
	cmd  *exec.Cmd
	done chan struct{}
}

// startProc starts path args with env added to this process's
// environment (minus every RAYO_* variable), its output in logDir/name.log.
func startProc(name, dir, logDir, path string, args, env []string) (*proc, error) {
	logf, err := os.Create(filepath.Join(logDir, name+".log"))
	if err != nil {
		return nil, fmt.Errorf("scalebench: %s's log: %w", name, err)
	}
	cmd := exec.Command(path, args...)
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return nil, fmt.Errorf("scalebench: starting %s: %w", name, err)
	}
	p := &proc{name: name, pid: cmd.Process.Pid, log: logf.Name(), cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		_ = logf.Close()
		close(p.done)
	}()
	return p, nil
}

// cleanEnv is this process's environment without RAYO_* variables: a
// daemon gets what it needs from the harness, nothing from the caller.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RAYO_") {
			env = append(env, kv)
		}
	}
	return env
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends sig to the process group.
func (p *proc) kill(sig syscall.Signal) {
	if !p.exited() {
		_ = syscall.Kill(-p.pid, sig)
	}
}

func (p *proc) wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.done:
		return true
	case <-t.C:
		return false
	}
}

// tail is the end of the process's log.
func (p *proc) tail(n int) string {
	b, _ := os.ReadFile(p.log)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// stopAll sends SIGTERM to every group, waits, then SIGKILLs the groups
// of those still running, and of all (a group may hold children whose
// leader exited).
func stopAll(procs []*proc) {
	for _, p := range procs {
		p.kill(syscall.SIGTERM)
	}
	deadline := time.Now().Add(stopTimeout)
	for _, p := range procs {
		if !p.wait(time.Until(deadline)) {
			p.kill(syscall.SIGKILL)
			p.wait(stopTimeout)
		}
	}
	for _, p := range procs {
		_ = syscall.Kill(-p.pid, syscall.SIGKILL)
	}
}

// sweep kills whatever still carries marker (workers whose daemon was
// killed and that did not notice yet) and returns how many it found
// after grace.
func sweep(marker string, grace time.Duration) int {
	deadline := time.Now().Add(grace)
	for {
		left := markedPids(marker)
		if len(left) == 0 {
			return 0
		}
		if time.Now().After(deadline) {
			for _, pid := range left {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			return len(left)
		}
		time.Sleep(100 * time.Millisecond) // polling /proc, not synchronising
	}
}

// KillLeftovers kills every process left by run runID (its marker begins
// with it) and returns how many there were: for a caller whose run was
// itself killed, as a test's timeout does.
func KillLeftovers(runID string) int {
	pids := pidsWhere(func(v string) bool { return strings.HasPrefix(v, runID+"-") })
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	return len(pids)
}

// markedPids lists the live processes whose environment holds
// MarkerEnv=marker.
func markedPids(marker string) []int {
	return pidsWhere(func(v string) bool { return v == marker })
}

// pidsWhere lists the live processes whose MarkerEnv value satisfies ok.
func pidsWhere(ok func(string) bool) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil || !markerOK(env, ok) {
			continue
		}
		if st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && zombie(st) {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

// markerOK reports whether environ (NUL-separated) holds MarkerEnv with a
// value ok accepts.
func markerOK(environ []byte, ok func(string) bool) bool {
	for _, kv := range strings.Split(string(environ), "\x00") {
		if v, found := strings.CutPrefix(kv, MarkerEnv+"="); found {
			return ok(v)
		}
	}
	return false
}

// zombie reads the state field of /proc/<pid>/stat.
func zombie(stat []byte) bool {
	i := strings.LastIndexByte(string(stat), ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}

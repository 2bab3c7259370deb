package session

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Proc identifies a process beyond its pid, which the kernel reuses: a
// pid file that outlives its daemon must never make `rayo stop` signal
// whatever process got the pid next.
type Proc struct {
	Pid int `json:"pid"`
	// Start is field 22 of /proc/<pid>/stat: clock ticks after boot. Two
	// processes with one pid in one boot never share it. 0: unknown (a
	// pid file of an older rayo).
	Start uint64 `json:"start,omitempty"`
	// Boot is the kernel's boot ID when the record was made ("": unknown);
	// Start counts from that boot.
	Boot string `json:"boot,omitempty"`
	// Exe is what /proc/<pid>/exe resolved to ("": unknown).
	Exe string `json:"exe,omitempty"`
}

// ErrNoProcess means the pid names no process (or its /proc entry is
// unreadable).
var ErrNoProcess = errors.New("session: no such process")

const deletedSuffix = " (deleted)"

// Identify reads pid's identity from /proc. Exe is "" where the link is
// unreadable (another user's process).
func Identify(pid int) (Proc, error) {
	if pid <= 0 {
		return Proc{}, fmt.Errorf("%w: pid %d", ErrNoProcess, pid)
	}
	st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Proc{}, fmt.Errorf("%w: pid %d: %w", ErrNoProcess, pid, err)
	}
	state, start, ok := parseStat(string(st))
	if !ok || state == 'Z' || state == 'X' {
		// A zombie has exited: its pid is about to be free.
		return Proc{}, fmt.Errorf("%w: pid %d has exited", ErrNoProcess, pid)
	}
	p := Proc{Pid: pid, Start: start, Boot: bootID()}
	if exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe"); err == nil {
		p.Exe = strings.TrimSuffix(exe, deletedSuffix)
	}
	return p, nil
}

// parseStat returns the state (field 3) and start time (field 22) of a
// /proc/<pid>/stat line. The command name (field 2) may hold spaces and
// parentheses, so fields are counted after its last ')'.
func parseStat(s string) (state byte, start uint64, ok bool) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return 0, 0, false
	}
	f := strings.Fields(s[i+2:]) // f[0] is field 3
	if len(f) < 20 || len(f[0]) == 0 {
		return 0, 0, false
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return 0, 0, false
	}
	return f[0][0], start, true
}

func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// Same reports whether cur (just read with Identify) is the process the
// record p describes: same pid and, where p knows them, same start time
// in the same boot. A record with no start time cannot tell a reused pid
// apart; callers check more (the executable, the session) for those.
func (p Proc) Same(cur Proc) bool {
	if p.Pid != cur.Pid {
		return false
	}
	if p.Boot != "" && cur.Boot != "" && p.Boot != cur.Boot {
		return false
	}
	return p.Start == 0 || p.Start == cur.Start
}

// Running reports whether the process p records still runs (a liberal
// answer for a record without a start time: any process with the pid).
func (p Proc) Running() bool {
	cur, err := Identify(p.Pid)
	return err == nil && p.Same(cur)
}

// marshal is the pid file's content: the pid on the first line (what
// tools that read pid files expect), then key=value lines.
func (p Proc) marshal() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "%d\n", p.Pid)
	if p.Start != 0 {
		fmt.Fprintf(&b, "start=%d\n", p.Start)
	}
	if p.Boot != "" {
		fmt.Fprintf(&b, "boot=%s\n", p.Boot)
	}
	if p.Exe != "" && !strings.ContainsRune(p.Exe, '\n') {
		fmt.Fprintf(&b, "exe=%s\n", p.Exe)
	}
	return []byte(b.String())
}

// parseProc reads a pid file: a bare pid (older rayo) or marshal's form.
// Unknown keys are ignored; a malformed pid or start is an error.
func parseProc(s string) (Proc, error) {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(lines[0]))
	if err != nil || pid <= 0 {
		return Proc{}, fmt.Errorf("session: malformed pid file")
	}
	p := Proc{Pid: pid}
	for _, l := range lines[1:] {
		k, v, _ := strings.Cut(l, "=")
		switch k {
		case "start":
			if p.Start, err = strconv.ParseUint(v, 10, 64); err != nil {
				return Proc{}, fmt.Errorf("session: malformed pid file")
			}
		case "boot":
			p.Boot = v
		case "exe":
			p.Exe = v
		}
	}
	return p, nil
}

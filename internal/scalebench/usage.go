package scalebench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rayo-dev/rayo/internal/microbench"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times; 100 on
// every Linux that Go supports.
const clockTicks = 100

// cpuTicks is utime+stime of pid, in clock ticks.
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("scalebench: reading pid %d's CPU time: %w", pid, err)
	}
	// The command name may hold spaces: fields count from after ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("scalebench: /proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state): utime is field 14, stime 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("scalebench: /proc/%d/stat: %d fields", pid, len(f))
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("scalebench: /proc/%d/stat: bad times", pid)
	}
	return u + st, nil
}

// rssBytes is pid's resident set (VmRSS).
func rssBytes(pid int) (int64, error) {
	kib := microbench.ProcStatusKiB(pid, "VmRSS")
	if kib == 0 {
		return 0, fmt.Errorf("scalebench: no VmRSS for pid %d", pid)
	}
	return int64(kib) << 10, nil
}

// cpuMeter measures a process's CPU use between start and stop.
type cpuMeter struct {
	pid   int
	ticks int64
	at    time.Time
}

func startCPU(pid int) (*cpuMeter, error) {
	t, err := cpuTicks(pid)
	if err != nil {
		return nil, err
	}
	return &cpuMeter{pid: pid, ticks: t, at: time.Now()}, nil
}

// percent is the CPU used since start, in % of one core.
func (m *cpuMeter) percent() (float64, error) {
	t, err := cpuTicks(m.pid)
	if err != nil {
		return 0, err
	}
	el := time.Since(m.at).Seconds()
	return 100 * float64(t-m.ticks) / clockTicks / el, nil
}

// memAvailable is the kernel's MemAvailable estimate, in bytes.
func memAvailable() (int64, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, fmt.Errorf("scalebench: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "MemAvailable:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("scalebench: MemAvailable %q", v)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("scalebench: no MemAvailable in /proc/meminfo")
}

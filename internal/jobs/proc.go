package jobs

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// procStat is what /proc/<pid>/stat says of a process that identifies it.
type procStat struct {
	state byte
	pgid  int
	start uint64 // clock ticks after boot
}

// readStat reads /proc/<pid>/stat. The command name may hold spaces and
// parentheses: fields are counted after its last ')'.
func readStat(pid int) (procStat, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return procStat{}, false
	}
	// After ')': state(3) ppid(4) pgrp(5) ... starttime(22), 1-based in
	// proc(5); here index 0 is field 3.
	f := strings.Fields(s[i+2:])
	if len(f) < 20 {
		return procStat{}, false
	}
	pgid, err1 := strconv.Atoi(f[2])
	start, err2 := strconv.ParseUint(f[19], 10, 64)
	if err1 != nil || err2 != nil || len(f[0]) == 0 {
		return procStat{}, false
	}
	return procStat{state: f[0][0], pgid: pgid, start: start}, true
}

// sameProcess reports whether pid is alive (not a zombie) and is the
// process that started at start: a pid reused by another process has
// another start time.
func sameProcess(pid int, start uint64) bool {
	st, ok := readStat(pid)
	return ok && st.state != 'Z' && st.state != 'X' && st.start == start
}

// signalGroup sends sig to the process group pgid; one already gone is
// not an error.
func signalGroup(pgid int, sig syscall.Signal) error {
	if pgid <= 1 {
		return errors.New("jobs: refusing to signal process group " + strconv.Itoa(pgid))
	}
	if err := syscall.Kill(-pgid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return nil
}

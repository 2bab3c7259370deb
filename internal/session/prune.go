package session

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// DefaultKeep is how many session directories `rayo start` keeps: each
// holds the logs, job binaries and job working directories of one
// cluster (tens of MB), so they are pruned, newest kept.
const DefaultKeep = 5

// Live reports whether a daemon recorded in the session still runs. A
// session whose pid files cannot be read counts as live: pruning errs on
// the side of keeping.
func (d *Dir) Live() bool {
	procs, err := d.Procs()
	if err != nil {
		return true
	}
	for _, p := range procs {
		if p.Running() {
			return true
		}
	}
	return false
}

// HeldBy reports whether process pid holds a file of the session open:
// every rayo daemon keeps its log file in the session open for its life,
// so a process that holds none is not that session's daemon. It needs
// /proc/<pid>/fd, which only the process's user (and root) may read.
func (d *Dir) HeldBy(pid int) bool {
	root, err := filepath.EvalSymlinks(d.Path)
	if err != nil {
		return false
	}
	fdDir := "/proc/" + strconv.Itoa(pid) + "/fd"
	fds, err := os.ReadDir(fdDir)
	if err != nil {
		return false
	}
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
		if err != nil {
			continue
		}
		if strings.HasPrefix(strings.TrimSuffix(target, deletedSuffix), root+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

// Prune removes the session directories under tempDir beyond the newest
// keep, and returns the paths removed. It never removes the one
// session_latest points at, one named in protect, one whose daemons still
// run (Live), nor a directory whose name rayo did not make. keep <= 0
// keeps every session. Removal errors are joined; the rest goes on.
func Prune(tempDir string, keep int, protect ...string) ([]string, error) {
	if keep <= 0 {
		return nil, nil
	}
	all, err := AllSessions(tempDir)
	if err != nil || len(all) <= keep {
		return nil, err
	}
	kept := map[string]bool{}
	for _, p := range protect {
		if p != "" {
			if abs, err := filepath.Abs(p); err == nil {
				kept[abs] = true
			}
		}
	}
	if latest, err := Latest(tempDir); err == nil {
		kept[latest.Path] = true
	}
	var removed []string
	var errs []error
	for _, d := range all[:len(all)-keep] {
		name := filepath.Base(d.Path)
		if kept[d.Path] || !parseSessionName(name).ok || d.Live() {
			continue
		}
		// AllSessions lists real directories only (ReadDir does not
		// follow links); check again right before removing.
		if fi, err := os.Lstat(d.Path); err != nil || !fi.IsDir() {
			continue
		}
		if err := os.RemoveAll(d.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("session: prune %s: %w", name, err))
			continue
		}
		removed = append(removed, d.Path)
	}
	return removed, errors.Join(errs...)
}

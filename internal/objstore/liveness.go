package objstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Liveness of a main segment.
//
// A store's file outlives a daemon that dies without closing it (kill -9),
// so someone must remove it later; it must never be a store whose owner
// still runs. A pid in the file name cannot say which: a daemon in
// another PID namespace that shares the directory (two containers, a test
// harness) gets ESRCH for a live owner, and a reused pid looks alive. So
// liveness is a lock, which the kernel keeps right across namespaces:
//
//   - The owner holds an exclusive flock on the segment file, taken on the
//     descriptor it created the file with, for the Store's life. The kernel
//     drops it when that descriptor (and the mapping made from it) goes,
//     which happens however the owner dies, SIGKILL included. The
//     descriptor is close-on-exec, so no child keeps it.
//   - Clients (Mapper) open and map the file but never lock it. A shared
//     lock by a client would make the file look owned for as long as an
//     orphaned client lived, and a client's mapping does not need the name:
//     the kernel keeps an unlinked file's pages for whoever maps them.
//   - RemoveStale removes a file only if it gets the exclusive lock without
//     waiting (nobody holds any lock on it: the owner is gone), and only if
//     the name still leads to the file it locked; it unlinks under the lock,
//     then lets it go.
//   - The owner creates the file, then locks it: a sweep in between takes
//     the new file for a dead one. So the owner checks, once it holds the
//     lock, that the name still leads to its file, and creates it again if
//     not (createLocked).
//
// Store.CheckSegment tells the owner that its file was removed or replaced
// (new clients could not map the store any more).

// ErrSegmentLost says that the store's main segment file no longer is
// what clients map: removed, replaced, truncated or made unreadable.
var ErrSegmentLost = errors.New("objstore: the main segment file is gone")

// segmentPrefix starts the names of main segment files that SweepStale
// considers: rayo-<node ID>-<pid>.
const segmentPrefix = "rayo-"

// SegmentPath is where a node's main segment lives in dir. The pid tells
// people which process made it; liveness does not depend on it.
func SegmentPath(dir, nodeID string, pid int) string {
	return filepath.Join(dir, fmt.Sprintf("%s%s-%d", segmentPrefix, nodeID, pid))
}

// isSegmentName reports whether name has SegmentPath's form.
func isSegmentName(name string) bool {
	rest, ok := strings.CutPrefix(name, segmentPrefix)
	if !ok {
		return false
	}
	i := strings.LastIndexByte(rest, '-')
	if i <= 0 {
		return false
	}
	pid, err := strconv.Atoi(rest[i+1:])
	return err == nil && pid > 0
}

// fileID names a file: device and inode.
type fileID struct{ dev, ino uint64 }

// statID is the file the name path leads to (not following a symlink).
func statID(path string) (fileID, error) {
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err != nil {
		return fileID{}, err
	}
	return fileID{uint64(st.Dev), st.Ino}, nil
}

func fstat(f *os.File) (syscall.Stat_t, fileID, error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return st, fileID{}, err
	}
	return st, fileID{uint64(st.Dev), st.Ino}, nil
}

func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// createLocked creates path (which must not exist) and takes the owner's
// exclusive lock on it.
func createLocked(path string) (*os.File, fileID, error) {
	for attempt := 0; ; attempt++ {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fileID{}, fmt.Errorf("objstore: main segment: %w", err)
		}
		// Blocking: only a sweep can hold it, and only for a moment.
		if err := flock(f, syscall.LOCK_EX); err != nil {
			f.Close()
			os.Remove(path)
			return nil, fileID{}, fmt.Errorf("objstore: locking the main segment: %w", err)
		}
		_, id, err := fstat(f)
		if err != nil {
			f.Close()
			os.Remove(path)
			return nil, fileID{}, fmt.Errorf("objstore: main segment: %w", err)
		}
		if cur, err := statID(path); err == nil && cur == id {
			return f, id, nil
		}
		// A sweep removed the file between its creation and our lock.
		f.Close()
		if attempt == 2 {
			return nil, fileID{}, fmt.Errorf("objstore: main segment %s: removed as soon as created, three times", path)
		}
	}
}

// RemoveStale removes the segment file at path if no live Store owns it
// (see the rules above), and reports whether it did. A path that does not
// exist, or is not a regular file, is left alone and reported false.
func RemoveStale(path string) (bool, error) {
	// O_NONBLOCK: a FIFO planted under the name must not hang the sweep.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ELOOP) {
			return false, nil
		}
		return false, fmt.Errorf("objstore: %w", err)
	}
	defer f.Close()
	st, id, err := fstat(f)
	if err != nil {
		return false, fmt.Errorf("objstore: %w", err)
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return false, nil
	}
	if err := flock(f, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return false, nil // its owner lives
		}
		return false, fmt.Errorf("objstore: locking %s: %w", path, err)
	}
	if cur, err := statID(path); err != nil || cur != id {
		return false, nil // replaced since we opened it: not the file we locked
	}
	if err := os.Remove(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		return false, fmt.Errorf("objstore: %w", err)
	}
	return true, nil
}

// SweepStale removes the main segment files in dir (named as SegmentPath
// names them) that no live Store owns, and returns their paths.
func SweepStale(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("objstore: sweeping %s: %w", dir, err)
	}
	var removed []string
	var errs []error
	for _, e := range ents {
		if !isSegmentName(e.Name()) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		ok, err := RemoveStale(p)
		if err != nil {
			errs = append(errs, err)
		}
		if ok {
			removed = append(removed, p)
		}
	}
	return removed, errors.Join(errs...)
}

// Path is the main segment file's path.
func (s *Store) Path() string { return s.cfg.Path }

// CheckSegment reports (wrapping ErrSegmentLost) when the main segment
// file is no longer one that clients can map: its name removed or leading
// to another file, the file truncated, or its owner's read-write
// permission taken away. The Store itself keeps working on its mapping;
// processes that map the store from now on would not.
func (s *Store) CheckSegment() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	cur, err := statID(s.cfg.Path)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrSegmentLost, s.cfg.Path, err)
	}
	if cur != s.fileID {
		return fmt.Errorf("%w: %s names another file now", ErrSegmentLost, s.cfg.Path)
	}
	st, _, err := fstat(s.file)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrSegmentLost, s.cfg.Path, err)
	}
	if st.Size < s.capacity {
		return fmt.Errorf("%w: %s was truncated to %d bytes", ErrSegmentLost, s.cfg.Path, st.Size)
	}
	if st.Mode&0o600 != 0o600 {
		return fmt.Errorf("%w: %s lost its owner's read-write permission (mode %o)", ErrSegmentLost, s.cfg.Path, st.Mode&0o777)
	}
	return nil
}

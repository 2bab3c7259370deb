package python

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
)

// files is the package's source: every .py file of rayo/ and of its
// subpackages one level down. Named patterns, not the directory: a
// directory pattern would skip _launch.py and the other _-files, and
// `all:rayo` would take in whatever __pycache__ the build machine has.
// TestPackageMatchesDisk fails if a .py file on disk is missing here (a
// deeper subpackage needs a pattern of its own).
//
//go:embed rayo/*.py rayo/*/*.py
var files embed.FS

// ErrUnsafeDir is returned when the directory to extract into may be
// written by another user (or is not a directory of this user's): code
// put there would run as this user.
var ErrUnsafeDir = errors.New("python: directory unsafe for the rayo package")

// Package returns the rayo Python package as embedded in this binary:
// "rayo/__init__.py", "rayo/train/_launch.py", ... (.py files only).
func Package() fs.FS { return files }

var hashOnce = sync.OnceValue(func() string {
	h := sha256.New()
	var n [8]byte
	_ = fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		binary.LittleEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write([]byte(p))
		binary.LittleEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))
})

// Hash is the hex SHA-256 of the embedded package: each file's path and
// content, in path order. Two binaries with the same Python code share it.
func Hash() string { return hashOnce() }

// dirName is the name of the extracted copy within its base directory.
func dirName() string { return "rayo-py-" + Hash()[:24] }

var (
	dirMu  sync.Mutex
	dirFor = map[string]string{} // base directory -> extracted copy
)

// Dir returns a directory holding the embedded package (its rayo/
// inside), to put first on a Python child's PYTHONPATH. The package is
// extracted at most once per process, under $XDG_CACHE_HOME/rayo (or
// ~/.cache/rayo), or, where there is no such directory, under
// $TMPDIR/rayo-<uid>; see ExtractTo.
func Dir() (string, error) {
	var bases []string
	if c, err := os.UserCacheDir(); err == nil {
		bases = append(bases, filepath.Join(c, "rayo"))
	}
	bases = append(bases, filepath.Join(os.TempDir(), "rayo-"+strconv.Itoa(os.Getuid())))
	var errs []error
	for _, base := range bases {
		dirMu.Lock()
		d, ok := dirFor[base]
		dirMu.Unlock()
		if ok {
			return d, nil
		}
		d, err := ExtractTo(base)
		if err == nil {
			dirMu.Lock()
			dirFor[base] = d
			dirMu.Unlock()
			return d, nil
		}
		errs = append(errs, err)
	}
	return "", errors.Join(errs...)
}

// ExtractTo writes the embedded package into base/rayo-py-<hash>/rayo
// (hash: the first 24 digits of Hash) and returns base/rayo-py-<hash>.
// base is created (0700) if missing; it must be this user's and not
// writable by others (ErrUnsafeDir). A copy already there is used when
// its files match the embedded ones (files added beside them, such as
// __pycache__, are allowed). Otherwise a new copy (directories 0700,
// files 0600) is written into a private temporary directory and renamed
// into place, so that a reader never sees half a package and processes
// that race all end with the one complete copy. A copy that differs is
// never deleted (a process may be using it): rayo-py-<hash>.1 and .2
// are tried in its stead. Nothing is deleted but this call's own
// temporary directory.
func ExtractTo(base string) (string, error) {
	if err := os.MkdirAll(base, 0o700); err != nil {
		return "", fmt.Errorf("python: extracting the rayo package: %w", err)
	}
	if err := checkPrivate(base); err != nil {
		return "", err
	}
	// A copy that differs from ours (hand-edited, or cut short by a
	// crash: files are not synced) is left alone, never deleted, since
	// another process may be using it: the next name is tried instead.
	name := filepath.Join(base, dirName())
	for _, final := range []string{name, name + ".1", name + ".2"} {
		if matches(final) {
			return final, nil
		}
		if _, err := os.Lstat(final); err == nil {
			if matches(final) {
				return final, nil // another extractor's copy appeared meanwhile
			}
			continue
		}
		tmp, err := os.MkdirTemp(base, ".rayo-py-tmp-")
		if err != nil {
			return "", fmt.Errorf("python: extracting the rayo package: %w", err)
		}
		if err := write(tmp); err != nil {
			_ = os.RemoveAll(tmp)
			return "", err
		}
		if err := os.Rename(tmp, final); err != nil {
			// Another process renamed its copy first (ENOTEMPTY or
			// EEXIST): ours goes, and theirs is checked.
			_ = os.RemoveAll(tmp)
			if !errors.Is(err, syscall.ENOTEMPTY) && !errors.Is(err, syscall.EEXIST) {
				return "", fmt.Errorf("python: extracting the rayo package: %w", err)
			}
		}
		if matches(final) {
			return final, nil
		}
	}
	return "", fmt.Errorf("python: extracting the rayo package: %s and its alternates differ from this binary's copy", name)
}

// checkPrivate refuses a directory that is a symbolic link, is another
// user's, or that group or others may write.
func checkPrivate(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("python: extracting the rayo package: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case !fi.IsDir():
		return fmt.Errorf("%w: %s is not a directory", ErrUnsafeDir, dir)
	case ok && int(st.Uid) != os.Getuid():
		return fmt.Errorf("%w: %s belongs to uid %d", ErrUnsafeDir, dir, st.Uid)
	case fi.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("%w: %s is writable by others (mode %v)", ErrUnsafeDir, dir, fi.Mode().Perm())
	}
	return nil
}

// write puts the embedded files under dir: directories 0700, files 0600.
func write(dir string) error {
	err := fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == "." {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(p))
		if d.IsDir() {
			return os.Mkdir(dst, 0o700)
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o600)
	})
	if err != nil {
		return fmt.Errorf("python: extracting the rayo package: %w", err)
	}
	return nil
}

// matches reports whether dir is a private directory holding every
// embedded file with the embedded content.
func matches(dir string) bool {
	if checkPrivate(dir) != nil {
		return false
	}
	err := fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		want, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p)))
		if err != nil {
			return err
		}
		if !bytes.Equal(got, want) {
			return fmt.Errorf("%s differs", path.Clean(p))
		}
		return nil
	})
	return err == nil
}

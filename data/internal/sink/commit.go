package sink

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// stagingPrefix starts the name of a write's staging directory. The dot
// hides it from readers (pyarrow and rayo's readers skip "." and "_"
// names), so a reader of the directory never sees staged files.
const stagingPrefix = ".rayo-staging-"

// maxIDLen bounds a write ID, so that names stay short of NAME_MAX.
const maxIDLen = 64

// checkID accepts IDs of letters, digits, '-' and '_': they go into
// directory and file names unescaped.
func checkID(op, id string) error {
	if id == "" || len(id) > maxIDLen {
		return invalid(op, "", "write ID %q must have 1 to %d characters", id, maxIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return invalid(op, "", "write ID %q may hold only letters, digits, '-' and '_'", id)
		}
	}
	return nil
}

// checkRel accepts a file name relative to the output directory, in slash
// form, that stays inside it and has no hidden component.
func checkRel(op, rel string) error {
	if rel == "" || !filepath.IsLocal(filepath.FromSlash(rel)) || path.Clean(rel) != rel {
		return invalid(op, rel, "file name must be a clean relative path inside the output directory")
	}
	for _, seg := range strings.Split(rel, "/") {
		if strings.HasPrefix(seg, ".") || strings.HasPrefix(seg, "_") {
			return invalid(op, rel, "file name has a hidden component %q", seg)
		}
	}
	return nil
}

// StagingDir is the staging directory of write id in dir. Ray writes
// straight to the final names and has none: a failed Ray write leaves
// partial output behind.
func StagingDir(dir, id string) string {
	return filepath.Join(dir, stagingPrefix+id)
}

// StagingPath is where a write task writes the file rel (a FileName or
// PartitionFileName) of write id in dir: the path to give WriteFile.
func StagingPath(dir, id, rel string) string {
	return filepath.Join(StagingDir(dir, id), filepath.FromSlash(rel))
}

// Begin starts write id into dir, in the driver, before any write task
// runs (Ray's Datasink.on_write_start): it creates dir (0755) if need be and the write's staging
// directory (0700). In ModeError it fails with ErrExists if dir already
// holds anything visible (a name not starting with "." or "_"), as Ray's
// mode="error" refuses an existing path; an empty directory is accepted.
func Begin(dir, id string, mode Mode) error {
	if err := checkID("begin", id); err != nil {
		return err
	}
	if !mode.valid() {
		return invalid("begin", dir, "unknown write mode %d", int(mode))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return writeErr("begin", dir, err)
	}
	if mode == ModeError {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return writeErr("begin", dir, err)
		}
		for _, e := range ents {
			if !hidden(e.Name()) {
				return &Error{Op: "begin", Path: filepath.Join(dir, e.Name()), Err: ErrExists,
					Detail: "the output directory already holds output (use mode overwrite or append)"}
			}
		}
	}
	if err := os.Mkdir(StagingDir(dir, id), 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return writeErr("begin", StagingDir(dir, id), err)
	}
	return nil
}

func hidden(name string) bool { return strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") }

// Abort ends write id without output (Ray's Datasink.on_write_failed): it removes the staging directory and
// every file staged in it. Aborting a write that has no staging directory
// (never begun, already committed or aborted) does nothing. Call it after
// the write's tasks have ended: a task still running then fails with
// ErrAborted rather than recreating the directory.
func Abort(dir, id string) error {
	if err := checkID("abort", id); err != nil {
		return err
	}
	if err := os.RemoveAll(StagingDir(dir, id)); err != nil {
		return writeErr("abort", StagingDir(dir, id), err)
	}
	return nil
}

// Commit ends write id (Ray's Datasink.on_write_complete) by moving the staged files (names relative to the
// output directory, as FileName and PartitionFileName give them) to their
// final places in dir, creating hive directories, then removing the
// staging directory, staged files not in files included (those of failed
// task attempts). It returns the final paths, in the order of files.
//
// In ModeError and ModeAppend no file is ever replaced: if any final path
// exists Commit fails with ErrExists before moving anything, and a file
// that appears meanwhile makes it move the files it had moved back into
// staging. In ModeAppend the final names are AppendName's. In
// ModeOverwrite each file replaces any old one of its name (a rename, so
// atomic per file), and once all are in place the old part-* files that
// were not replaced are removed, with hive directories left empty.
//
// On an error the staging directory is left for Abort.
func Commit(dir, id string, files []string, mode Mode) ([]string, error) {
	if err := checkID("commit", id); err != nil {
		return nil, err
	}
	if !mode.valid() {
		return nil, invalid("commit", dir, "unknown write mode %d", int(mode))
	}
	stage := StagingDir(dir, id)
	if _, err := os.Stat(stage); err != nil {
		return nil, &Error{Op: "commit", Path: stage, Err: ErrAborted, Cause: err}
	}
	seen := make(map[string]bool, len(files))
	finals := make([]string, len(files))
	for i, rel := range files {
		if err := checkRel("commit", rel); err != nil {
			return nil, err
		}
		if seen[rel] {
			return nil, invalid("commit", rel, "file listed twice")
		}
		seen[rel] = true
		src := StagingPath(dir, id, rel)
		if st, err := os.Lstat(src); err != nil {
			return nil, writeErr("commit", src, err)
		} else if !st.Mode().IsRegular() {
			return nil, invalid("commit", src, "staged file is not a regular file")
		}
		final := rel
		if mode == ModeAppend {
			final = AppendName(rel, id)
		}
		finals[i] = filepath.Join(dir, filepath.FromSlash(final))
		if mode != ModeOverwrite {
			if _, err := os.Lstat(finals[i]); err == nil {
				return nil, &Error{Op: "commit", Path: finals[i], Err: ErrExists}
			} else if !errors.Is(err, fs.ErrNotExist) {
				return nil, writeErr("commit", finals[i], err)
			}
		}
	}

	var old []string
	if mode == ModeOverwrite {
		var err error
		if old, err = oldParts(dir); err != nil {
			return nil, err
		}
	}

	dirs := map[string]bool{}
	for i, rel := range files {
		src, dst := StagingPath(dir, id, rel), finals[i]
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			rollback(dir, id, files[:i], finals[:i], mode)
			return nil, writeErr("commit", filepath.Dir(dst), err)
		}
		var err error
		if mode == ModeOverwrite {
			err = os.Rename(src, dst)
		} else {
			err = renameNoReplace(src, dst)
		}
		if err != nil {
			rollback(dir, id, files[:i], finals[:i], mode)
			if errors.Is(err, fs.ErrExist) {
				return nil, &Error{Op: "commit", Path: dst, Err: ErrExists, Cause: err}
			}
			return nil, writeErr("commit", dst, err)
		}
		// The file's directory and every new hive directory above it.
		for d := filepath.Dir(dst); !dirs[d]; d = filepath.Dir(d) {
			dirs[d] = true
			if d == filepath.Clean(dir) || d == filepath.Dir(d) {
				break
			}
		}
	}
	for d := range dirs {
		if err := syncDir(d); err != nil {
			return nil, writeErr("commit", d, err)
		}
	}

	if mode == ModeOverwrite {
		keep := make(map[string]bool, len(finals))
		for _, f := range finals {
			keep[f] = true
		}
		for _, f := range old {
			if keep[f] {
				continue
			}
			if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, writeErr("commit", f, err)
			}
		}
		removeEmptyHiveDirs(dir)
	}
	if err := os.RemoveAll(stage); err != nil {
		return nil, writeErr("commit", stage, err)
	}
	return finals, nil
}

// rollback moves files already committed back into staging, so that a
// failed ModeError or ModeAppend commit leaves dir as it found it (but for
// new empty hive directories). Overwritten files cannot come back, so
// ModeOverwrite leaves its moved files in place.
func rollback(dir, id string, files, finals []string, mode Mode) {
	if mode == ModeOverwrite {
		return
	}
	for i := len(files) - 1; i >= 0; i-- {
		_ = os.Rename(finals[i], StagingPath(dir, id, files[i]))
	}
}

// isPartName reports whether base is the name of a file a rayo write makes.
func isPartName(base string) bool {
	if !strings.HasPrefix(base, partPrefix) {
		return false
	}
	for _, f := range []Format{Parquet, CSV, JSON} {
		if strings.HasSuffix(base, "."+f.Ext()) {
			return true
		}
	}
	return false
}

// oldParts lists the part-* files of earlier writes in dir and its hive
// directories (names holding '='), skipping hidden names.
func oldParts(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		if hidden(d.Name()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if !strings.Contains(d.Name(), "=") {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() && isPartName(d.Name()) {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		return nil, writeErr("commit", dir, err)
	}
	return out, nil
}

// removeEmptyHiveDirs removes the hive directories under dir that hold
// nothing, deepest first; best effort, as a leftover empty directory
// holds no data.
func removeEmptyHiveDirs(dir string) {
	var hive []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return nil
		}
		if d.IsDir() {
			if hidden(d.Name()) || !strings.Contains(d.Name(), "=") {
				return filepath.SkipDir
			}
			hive = append(hive, p)
		}
		return nil
	})
	slices.Reverse(hive)
	for _, p := range hive {
		_ = os.Remove(p) // fails on a directory that is not empty: kept
	}
}

// syncDir fsyncs a directory, so that the renames in it are durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

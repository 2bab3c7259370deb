package jobs

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// MaxPackageSize bounds a working directory: the bytes of its files, and
// the compressed package that carries them.
const MaxPackageSize = 100 << 20

// MaxPackageEntries bounds the number of files, directories and links in
// a package (a package of a million empty files is no smaller a problem).
const MaxPackageEntries = 100_000

var (
	// ErrPackageTooLarge: the working directory is over MaxPackageSize or
	// MaxPackageEntries.
	ErrPackageTooLarge = errors.New("jobs: the working directory is too large")
	// ErrUnsafePath: an entry would land outside the working directory
	// (absolute path, "..", a symlink that leads out), or is of a kind a
	// package may not hold (device, socket, pipe, hard link).
	ErrUnsafePath = errors.New("jobs: unsafe path in the working directory")
	// ErrBadPackage: the package is not a gzipped tar.
	ErrBadPackage = errors.New("jobs: the working directory package is malformed")
)

// PathError is an ErrUnsafePath (or ErrPackageTooLarge) about one entry.
type PathError struct {
	Path   string
	Reason string
	Err    error
}

func (e *PathError) Error() string { return fmt.Sprintf("%v: %s: %s", e.Err, e.Path, e.Reason) }
func (e *PathError) Unwrap() error { return e.Err }

func unsafePath(p, reason string) error {
	return &PathError{Path: p, Reason: reason, Err: ErrUnsafePath}
}

// Pack writes dir as a gzipped tar to w: regular files, directories and
// symlinks that stay inside dir. It checks the whole directory before it
// writes a byte, so that a directory it refuses (too large, a link that
// leads out, a socket) fails before any upload starts; it skips nothing.
func Pack(dir string, w io.Writer) error {
	root, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if st, err := os.Stat(root); err != nil {
		return fmt.Errorf("jobs: working directory: %w", err)
	} else if !st.IsDir() {
		return fmt.Errorf("jobs: working directory %s is not a directory", dir)
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return err
	}
	var total int64
	var entries int
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		if entries++; entries > MaxPackageEntries {
			return &PathError{Path: rel, Reason: fmt.Sprintf("more than %d entries", MaxPackageEntries), Err: ErrPackageTooLarge}
		}
		switch t := d.Type(); {
		case t.IsDir():
		case t.IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			if total += info.Size(); total > MaxPackageSize {
				return &PathError{Path: rel, Reason: fmt.Sprintf("the files add up to more than %d MiB", MaxPackageSize>>20), Err: ErrPackageTooLarge}
			}
		case t&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := checkLinkTarget(filepath.ToSlash(rel), filepath.ToSlash(target)); err != nil {
				return err
			}
			// The lexical check misses links through other links: resolve it.
			real, err := resolveLink(p)
			if err != nil {
				return err
			}
			if !within(realRoot, real) {
				return unsafePath(rel, "the symlink leads out of the working directory (to "+real+")")
			}
		default:
			return unsafePath(rel, "not a regular file, directory or symlink ("+t.String()+")")
		}
		return nil
	})
	if err != nil {
		return err
	}

	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if d.Type()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, filepath.ToSlash(link))
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		hdr.Uname, hdr.Gname, hdr.Uid, hdr.Gid = "", "", 0, 0
		if d.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		// The header promised Size bytes: a file that changed since is an
		// error, not a silently different package.
		if _, err := io.CopyN(tw, f, hdr.Size); err != nil {
			return fmt.Errorf("jobs: %s changed while it was packed: %w", rel, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

// within reports whether p is root or below it (both cleaned, absolute).
func within(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	return err == nil && (rel == "." || filepath.IsLocal(rel))
}

// resolveLink is where the link at p leads, every link on the way
// followed the way the kernel does (a ".." after a link climbs from where
// the link leads, which a lexical Clean gets wrong). Where a component does
// not exist the walk stops there: the link dangles, and leads no further
// than that point until someone creates it.
func resolveLink(p string) (string, error) {
	target, err := os.Readlink(p)
	if err != nil {
		return "", err
	}
	dir, err := filepath.EvalSymlinks(filepath.Dir(p))
	if err != nil {
		return "", err
	}
	hops := 0
	return walkPath(dir, target, &hops)
}

// walkPath resolves rel from the real directory cur.
func walkPath(cur, rel string, hops *int) (string, error) {
	if filepath.IsAbs(rel) {
		cur = "/"
	}
	for _, comp := range strings.Split(filepath.ToSlash(rel), "/") {
		switch comp {
		case "", ".":
			continue
		case "..":
			cur = filepath.Dir(cur)
			continue
		}
		next := filepath.Join(cur, comp)
		st, err := os.Lstat(next)
		if err != nil {
			return next, nil // dangling from here
		}
		if st.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		if *hops++; *hops > 40 {
			return "", fmt.Errorf("jobs: %s: too many levels of symbolic links", next)
		}
		target, err := os.Readlink(next)
		if err != nil {
			return "", err
		}
		if cur, err = walkPath(cur, target, hops); err != nil {
			return "", err
		}
	}
	return cur, nil
}

// checkLinkTarget refuses a symlink at name (slash-separated, relative to
// the root) whose target is absolute or climbs out of the root.
func checkLinkTarget(name, target string) error {
	if target == "" || path.IsAbs(target) {
		return unsafePath(name, fmt.Sprintf("the symlink's target %q is absolute", target))
	}
	joined := path.Join(path.Dir(name), target)
	if joined != "." && !filepath.IsLocal(joined) {
		return unsafePath(name, fmt.Sprintf("the symlink's target %q leads out of the working directory", target))
	}
	return nil
}

// Unpack extracts the gzipped tar r into dir, which must exist (and
// should be empty). It refuses absolute names, "..", links that lead out
// of dir, hard links, devices, pipes and sockets; more than
// MaxPackageSize bytes of files or MaxPackageEntries entries. Writes go
// through an os.Root on dir, so even a link planted by an earlier entry
// cannot carry a file outside. On error dir may hold part of the package.
func Unpack(r io.Reader, dir string) error {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadPackage, err)
	}
	defer gz.Close()
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	tr := tar.NewReader(gz)
	var total int64
	var links []string
	for n := 1; ; n++ {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%w: %w", ErrBadPackage, err)
		}
		if n > MaxPackageEntries {
			return &PathError{Path: hdr.Name, Reason: fmt.Sprintf("more than %d entries", MaxPackageEntries), Err: ErrPackageTooLarge}
		}
		name, err := localName(hdr.Name)
		if err != nil {
			return err
		}
		if name == "." {
			continue // the root itself
		}
		perm := fs.FileMode(hdr.Mode).Perm()
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(name, 0o700); err != nil {
				return fmt.Errorf("jobs: unpack %s: %w", name, err)
			}
		case tar.TypeReg:
			if total += hdr.Size; hdr.Size < 0 || total > MaxPackageSize {
				return &PathError{Path: name, Reason: fmt.Sprintf("the files add up to more than %d MiB", MaxPackageSize>>20), Err: ErrPackageTooLarge}
			}
			if err := writeFile(root, name, perm, tr, hdr.Size); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := checkLinkTarget(name, hdr.Linkname); err != nil {
				return err
			}
			if err := mkParent(root, name); err != nil {
				return err
			}
			if err := root.Symlink(hdr.Linkname, name); err != nil {
				return fmt.Errorf("jobs: unpack %s: %w", name, err)
			}
			links = append(links, name)
		default:
			return unsafePath(name, fmt.Sprintf("entries of tar type %q are not allowed", hdr.Typeflag))
		}
	}
	return checkLinks(dir, links)
}

// localName cleans a tar entry's name and refuses one that is absolute
// or leaves the root.
func localName(name string) (string, error) {
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, `\`) || filepath.IsAbs(name) {
		return "", unsafePath(name, "absolute or empty name")
	}
	clean := path.Clean(name)
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", unsafePath(name, `the name holds ".."`)
		}
	}
	if clean != "." && !filepath.IsLocal(clean) {
		return "", unsafePath(name, "the name leaves the working directory")
	}
	return clean, nil
}

func mkParent(root *os.Root, name string) error {
	if d := path.Dir(name); d != "." {
		if err := root.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("jobs: unpack %s: %w", name, err)
		}
	}
	return nil
}

func writeFile(root *os.Root, name string, perm fs.FileMode, r io.Reader, size int64) error {
	if err := mkParent(root, name); err != nil {
		return err
	}
	// The package's owner bits, never group or other ones: the job's
	// files are the cluster user's alone. Set with Chmod: no umask widens
	// or narrows them.
	mode := perm&0o700 | 0o600
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("jobs: unpack %s: %w", name, err)
	}
	if err := f.Chmod(mode); err != nil {
		_ = f.Close()
		return fmt.Errorf("jobs: unpack %s: %w", name, err)
	}
	if _, err := io.CopyN(f, r, size); err != nil {
		_ = f.Close()
		return fmt.Errorf("%w: %s: %w", ErrBadPackage, name, err)
	}
	return f.Close()
}

// checkLinks resolves every link unpacked: each check alone was lexical,
// and a chain of links (a/b/c -> ../.., then y -> a/b/c/..) can lead out
// where no single target does. A link that leads out is removed and
// refused.
func checkLinks(dir string, links []string) error {
	realRoot, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return err
	}
	for _, name := range links {
		p := filepath.Join(dir, filepath.FromSlash(name))
		real, err := resolveLink(p)
		if err != nil {
			return err
		}
		if !within(realRoot, real) {
			_ = os.Remove(p)
			return unsafePath(name, "the symlink leads out of the working directory")
		}
	}
	return nil
}

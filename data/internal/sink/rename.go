package sink

import (
	"errors"
	"io/fs"
	"os"
)

// linkRename moves src to dst without replacing an existing dst: a hard
// link fails on an existing name, then src goes. On a filesystem without
// hard links it checks dst and renames, which leaves a window in which a
// file made by someone else could be replaced.
func linkRename(src, dst string) error {
	err := os.Link(src, dst)
	if err == nil {
		return os.Remove(src)
	}
	if errors.Is(err, fs.ErrExist) {
		return err
	}
	if _, serr := os.Lstat(dst); serr == nil {
		return &os.LinkError{Op: "rename", Old: src, New: dst, Err: fs.ErrExist}
	} else if !errors.Is(serr, fs.ErrNotExist) {
		return serr
	}
	return os.Rename(src, dst)
}

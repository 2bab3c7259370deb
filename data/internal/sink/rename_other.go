//go:build !linux

package sink

// renameNoReplace renames src to dst unless dst exists (fs.ErrExist), by
// link and unlink, which refuse an existing dst.
func renameNoReplace(src, dst string) error { return linkRename(src, dst) }

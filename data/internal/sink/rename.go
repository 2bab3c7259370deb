package sink

import "os"

// linkRename moves src to dst without replacing an existing dst: a hard
// link fails on an existing name, then src goes.
func linkRename(src, dst string) error {
	if err := os.Link(src, dst); err != nil {
		return err
	}
	return os.Remove(src)
}

package integration_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/internal/testcluster"
)

// Job binaries (the head's store and a node's cache), worker and daemon
// logs and the session directories were readable by every local user
// (0644/0755): after a real job ran, nothing there is open to group or
// others.
func TestClusterFilesArePrivate(t *testing.T) {
	c, node := startSeparateNode(t)
	ctx := withTimeout(t, time.Minute)
	if _, err := logLine.Remote(uniqueLine("private-head")).Get(ctx); err != nil {
		t.Fatal(err)
	}
	if w, err := logLine.Options(rayo.Resources(special)).Remote(uniqueLine("private-node")).Get(ctx); err != nil || w.NodeID != node.NodeID {
		t.Fatalf("the task on the separate node: %+v, %v", w, err)
	}
	hash := jobBinaryHash(t)
	for _, p := range []*testcluster.Proc{c.Head(), node} {
		sess, err := p.SessionDir()
		if err != nil {
			t.Fatal(err)
		}
		// The binary is in the head's store and in the node's cache.
		if _, err := os.Stat(filepath.Join(sess, "binaries", hash)); err != nil {
			t.Errorf("%s: the job binary: %v", p.Name, err)
		}
		for _, dir := range []string{sess, filepath.Join(sess, "binaries"), filepath.Join(sess, "logs")} {
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			checkPrivate(t, dir)
			for _, e := range entries {
				if e.Type()&os.ModeSymlink == 0 {
					checkPrivate(t, filepath.Join(dir, e.Name()))
				}
			}
		}
	}
}

func checkPrivate(t *testing.T, p string) {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		t.Errorf("%s has mode %#o: other local users may read it", p, perm)
	}
}

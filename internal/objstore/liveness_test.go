package objstore

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// holdEnv makes this test binary, run as a child, open a Store at the path
// it names and hold it until killed (TestHelperHoldStore).
const holdEnv = "OBJSTORE_TEST_HOLD_STORE"

// TestHelperHoldStore is the child of TestSweepKeepsStoreOfLiveOwner.
func TestHelperHoldStore(t *testing.T) {
	path := os.Getenv(holdEnv)
	if path == "" {
		t.Skip("helper process for TestSweepKeepsStoreOfLiveOwner")
	}
	s, err := Open(Config{Path: path, Capacity: mib, SpillDir: filepath.Join(filepath.Dir(path), "spill-helper")})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	defer s.Close()
	fmt.Println("ready")
	select {} // until killed
}

// deadPid returns the pid of a process that has exited: a pid that, like a
// live owner's in another PID namespace, kill(pid, 0) says does not exist.
func deadPid(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skipf("cannot run true: %v", err)
	}
	pid := cmd.Process.Pid
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Skipf("pid %d was reused at once", pid)
	}
	return pid
}

// A store whose owner lives is kept by the sweep, whatever its name's pid
// says (here one that kill(2) reports gone, as it does for an owner in
// another PID namespace), and although a client maps it; once the owner
// is killed with SIGKILL the sweep removes it, and the client's mapping
// stays readable.
func TestSweepKeepsStoreOfLiveOwner(t *testing.T) {
	dir := t.TempDir()
	path := SegmentPath(dir, "n0de", deadPid(t))
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHoldStore$", "-test.count=1")
	cmd.Env = append(os.Environ(), holdEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })

	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		ready <- line
	}()
	select {
	case line := <-ready:
		if line != "ready\n" {
			t.Fatalf("helper: %q", line)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the helper did not open its store")
	}

	m := NewMapper()
	defer m.Close()
	data, err := m.Bytes(Location{Path: path, Offset: 0, Size: 8})
	if err != nil {
		t.Fatal(err)
	}
	copy(data, "rayo-obj")

	removed, err := SweepStale(dir)
	if err != nil || len(removed) != 0 {
		t.Fatalf("sweep with a live owner: removed %v, err %v", removed, err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the live owner's store is gone: %v", err)
	}

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited // the kernel has closed the dead owner's files: its lock is gone
	removed, err = SweepStale(dir)
	if err != nil || len(removed) != 1 || removed[0] != path {
		t.Fatalf("sweep after the owner died: removed %v, err %v", removed, err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the dead owner's store is still there: %v", err)
	}
	if string(data) != "rayo-obj" {
		t.Fatalf("a client's mapping changed after the sweep: %q", data)
	}
}

// The sweep keeps a store owned by this very process (another open file
// description, same process) and anything that is not a segment file, and
// removes a segment file nobody locks.
func TestSweepStale(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Config{Path: SegmentPath(dir, "live", os.Getpid()), Capacity: mib, SpillDir: filepath.Join(dir, "spill")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dead := SegmentPath(dir, "dead", os.Getpid())
	if err := os.WriteFile(dead, make([]byte, 64), 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "rayo-notasegment")
	if err := os.WriteFile(other, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	link := SegmentPath(dir, "link", 7)
	if err := os.Symlink(other, link); err != nil {
		t.Fatal(err)
	}
	fifo := SegmentPath(dir, "fifo", 8)
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}

	removed, err := SweepStale(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || removed[0] != dead {
		t.Fatalf("removed %v, want only %s", removed, dead)
	}
	for _, p := range []string{s.Path(), other, link, fifo} {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Close left the segment: %v", err)
	}
}

// CheckSegment notices a segment file removed, replaced or truncated, and
// Close then leaves a file that replaced it alone.
func TestCheckSegment(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string)
	}{
		{"removed", func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}},
		{"replaced", func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, make([]byte, mib), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"truncated", func(t *testing.T, path string) {
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
		}},
		{"unreadable", func(t *testing.T, path string) {
			if err := os.Chmod(path, 0); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(Config{Path: SegmentPath(dir, "n", 1), Capacity: mib, SpillDir: filepath.Join(dir, "spill")})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.CheckSegment(); err != nil {
				t.Fatalf("fresh store: %v", err)
			}
			tc.damage(t, s.Path())
			if err := s.CheckSegment(); !errors.Is(err, ErrSegmentLost) {
				t.Fatalf("CheckSegment = %v, want ErrSegmentLost", err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if tc.name == "replaced" {
				if _, err := os.Stat(s.Path()); err != nil {
					t.Fatalf("Close removed a file that is not the store's: %v", err)
				}
			}
			if err := s.CheckSegment(); !errors.Is(err, ErrClosed) {
				t.Fatalf("after Close: %v", err)
			}
		})
	}
}

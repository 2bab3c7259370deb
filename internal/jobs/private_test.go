package jobs

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// A job's log, working directory and unpacked files were readable by
// every local user (0644/0755, and wider under umask 0): they are the
// cluster user's alone, whatever the umask and the package's modes.
func TestJobFilesArePrivate(t *testing.T) {
	old := syscall.Umask(0)
	t.Cleanup(func() { syscall.Umask(old) })
	call := startHead(t)
	session := t.TempDir()
	m := newManager(t, call, session)
	// A package whose files and directories every user may read and
	// write (modes are kept in the tar; the umask is 0 here).
	src := t.TempDir()
	for name, mode := range map[string]os.FileMode{"run.sh": 0o777, "config.txt": 0o666, "data/in.txt": 0o644} {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("#!/bin/sh\necho secret output\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	var pkg bytes.Buffer
	if err := Pack(src, &pkg); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Submit(context.Background(), Submission{ID: "private-1", Entrypoint: []string{"./run.sh"}}, &pkg); err != nil {
		t.Fatal(err)
	}
	if info := waitEnd(t, m, "private-1"); info.Status != Succeeded {
		t.Fatalf("the job ended as %+v", info)
	}
	wd := filepath.Join(session, "jobs", "private-1", "working_dir")
	want := map[string]os.FileMode{
		filepath.Join(session, "logs", "job-private-1.log"): 0o600,
		filepath.Join(session, "logs"):                      0o700,
		filepath.Join(session, "jobs"):                      0o700,
		filepath.Join(session, "jobs", "private-1"):         0o700,
		wd:                                  0o700,
		filepath.Join(wd, "run.sh"):         0o700,
		filepath.Join(wd, "config.txt"):     0o600,
		filepath.Join(wd, "data"):           0o700,
		filepath.Join(wd, "data", "in.txt"): 0o600,
	}
	for p, mode := range want {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != mode {
			t.Errorf("%s has mode %#o, want %#o", p, got, mode)
		}
	}
}

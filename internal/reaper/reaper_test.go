package reaper

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// sockDir is a short directory for Unix sockets (108-byte path limit).
func sockDir(t *testing.T) string {
	d, err := os.MkdirTemp("", "rr")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func feed(t *testing.T, msgs ...msg) io.Reader {
	r, w := io.Pipe()
	go func() {
		enc := json.NewEncoder(w)
		for _, m := range msgs {
			_ = enc.Encode(m)
		}
		_ = w.Close()
	}()
	return r
}

// At end-of-file (the driver died) Run kills the node's workers, removes
// the unlocked store, the directory and the socket nobody listens on, and
// keeps a socket that has a listener.
func TestRunCleansUpAfterDeadDriver(t *testing.T) {
	dir, sd := t.TempDir(), sockDir(t)
	old := waitLimit
	waitLimit = time.Second // for the socket that keeps its listener
	t.Cleanup(func() { waitLimit = old })
	store := filepath.Join(dir, "rayo-n1-123")
	if err := os.WriteFile(store, make([]byte, 64), 0o600); err != nil {
		t.Fatal(err)
	}
	spill := filepath.Join(dir, "spill")
	if err := os.MkdirAll(filepath.Join(spill, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	dead := filepath.Join(sd, "dead")
	ln, err := net.Listen("unix", dead)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close() // as a killed process leaves it: the file, nobody listening
	live := filepath.Join(sd, "live")
	ln2, err := net.Listen("unix", live)
	if err != nil {
		t.Fatal(err)
	}
	defer ln2.Close()
	go func() {
		for {
			c, err := ln2.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	worker := exec.Command("sleep", "60")
	worker.Env = append(os.Environ(), "RAYO_NODE_ID=n1", "RAYO_WORKER_MODE=1")
	other := exec.Command("sleep", "60")
	other.Env = append(os.Environ(), "RAYO_NODE_ID=n2", "RAYO_WORKER_MODE=1")
	for _, c := range []*exec.Cmd{worker, other} {
		if err := c.Start(); err != nil {
			t.Skipf("cannot run sleep: %v", err)
		}
		t.Cleanup(func() { _ = c.Process.Kill(); _ = c.Wait() })
	}
	waited := make(chan error, 1)
	go func() { waited <- worker.Wait() }()

	rc := Run(feed(t, msg{Node: "n1"}, msg{Store: store}, msg{Dir: spill}, msg{Socket: dead}, msg{Socket: live}),
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if rc != 0 {
		t.Fatalf("Run = %d", rc)
	}
	if err := <-waited; err == nil {
		t.Fatal("the worker exited cleanly; it should have been killed")
	}
	if err := syscall.Kill(other.Process.Pid, 0); err != nil {
		t.Fatalf("another node's worker was killed: %v", err)
	}
	for _, p := range []string{store, spill, dead} {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still there: %v", p, err)
		}
	}
	if _, err := os.Lstat(live); err != nil {
		t.Errorf("the socket with a listener was removed: %v", err)
	}
}

// After "bye" (a clean Shutdown) Run removes nothing.
func TestRunByeRemovesNothing(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "rayo-n1-123")
	if err := os.WriteFile(store, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if rc := Run(feed(t, msg{Store: store}, msg{Dir: dir}, msg{Bye: true}), slog.New(slog.NewTextHandler(io.Discard, nil))); rc != 0 {
		t.Fatalf("Run = %d", rc)
	}
	if _, err := os.Stat(store); err != nil {
		t.Fatal(err)
	}
}

// Flush returns once what was sent is in the pipe: the reaper reads it
// even after the driver is gone.
func TestFlushPutsEverythingInThePipe(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rp := &Reaper{w: w, wake: make(chan struct{}, 1), done: make(chan struct{})}
	rp.written = sync.NewCond(&rp.mu)
	go rp.writeLoop()
	for i := 0; i < 100; i++ {
		rp.Socket(fmt.Sprintf("/tmp/s%d", i))
	}
	rp.Flush()
	// The writer goes (as at Close), and the pipe's end with it: what is
	// in the pipe stays readable.
	rp.mu.Lock()
	rp.closing = true
	rp.mu.Unlock()
	select {
	case rp.wake <- struct{}{}:
	default: // a wake-up is pending already
	}
	<-rp.done
	_ = w.Close()
	p := plan{sockets: map[string]bool{}}
	dec := json.NewDecoder(r)
	for {
		var m msg
		if dec.Decode(&m) != nil {
			break
		}
		p.sockOrder = append(p.sockOrder, m.Socket)
	}
	if len(p.sockOrder) != 100 {
		t.Fatalf("%d sockets in the pipe after Flush, want 100", len(p.sockOrder))
	}
}

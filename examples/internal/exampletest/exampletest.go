// Package exampletest builds and runs an example as a real process, as
// its tests do: on its own embedded cluster, in its own process group,
// with a check that no process of it outlives it.
package exampletest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// markerEnv carries a run's marker to the example and its workers (they
// inherit the environment), so that they can be found in /proc.
const markerEnv = "EXAMPLE_TEST_MARKER"

// Build builds the example in the current directory and returns the
// binary's path.
func Build(t *testing.T, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if p, err := exec.LookPath("go"); err == nil {
		goTool = p
	}
	if out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// Run runs bin with args on its own embedded cluster (no RAYO_*
// variable from the test's environment) in its own process group, killed
// at timeout, and returns its combined output and exit error; onLine, if
// set, sees each line of output as it comes, on the test's goroutine.
// After it exits its workers must exit too: any process still carrying
// its marker a few seconds later fails the test, and is killed.
func Run(t *testing.T, timeout time.Duration, onLine func(line string, p *os.Process), bin string, args ...string) (string, error) {
	t.Helper()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	marker := hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = t.TempDir()
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RAYO_") && !strings.HasPrefix(kv, "TMPDIR=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, markerEnv+"="+marker, "TMPDIR="+t.TempDir())
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		t.Fatal(err)
	}
	pw.Close()
	// Read until the pipe closes, or a little after the example exits (a
	// worker left behind may hold it open).
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var all strings.Builder
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var waitErr error
	var after <-chan time.Time
	for lines != nil {
		select {
		case line, ok := <-lines:
			if !ok {
				lines = nil
				continue
			}
			all.WriteString(line + "\n")
			if onLine != nil {
				onLine(line, cmd.Process)
			}
		case waitErr = <-exited:
			exited, after = nil, time.After(3*time.Second)
		case <-after:
			pr.Close()
			for range lines {
			}
			lines = nil
		}
	}
	if exited != nil {
		waitErr = <-exited
	}
	pr.Close()
	if ctx.Err() != nil {
		t.Errorf("%s %s: still running after %v", bin, strings.Join(args, " "), timeout)
	}
	deadline := time.Now().Add(10 * time.Second)
	left := markedPids(marker)
	for len(left) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		left = markedPids(marker)
	}
	for _, pid := range left {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if len(left) > 0 {
		t.Errorf("processes of the example still running 10 s after it exited (killed): %v", left)
	}
	return all.String(), waitErr
}

// markedPids lists the live processes whose environment holds marker.
func markedPids(marker string) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || !strings.Contains("\x00"+string(env)+"\x00", "\x00"+markerEnv+"="+marker+"\x00") {
			continue
		}
		if stat, err := os.ReadFile("/proc/" + e.Name() + "/stat"); err == nil {
			if i := strings.LastIndexByte(string(stat), ')'); i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
				continue // exited, not yet reaped
			}
		}
		pids = append(pids, pid)
	}
	return pids
}

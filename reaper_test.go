package rayo_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/rayo-dev/rayo"
)

// workerSocket runs in a worker and names its Unix socket file.
var workerSocket = rayo.Register[string]("rayo_test.workerSocket", func() string {
	return rayo.RuntimeSocketForTest()
})

const (
	dieEnv    = "RAYO_TEST_DRIVER_DIES" // panic, exit or kill
	markerEnv = "RAYO_TEST_DRIVER_MARKER"
)

// driverReport is what the dying driver prints before it dies.
type driverReport struct {
	rayo.EmbeddedFiles
	WorkerSocket string
	Err          string
}

// TestHelperDyingDriver is the driver of TestEmbeddedDriverDeathLeavesNothing:
// it starts an embedded cluster, puts an object large enough to live in the
// store file, runs a task (so a worker exists), prints its files, waits
// for a line on stdin and dies as $RAYO_TEST_DRIVER_DIES says, without
// Shutdown.
func TestHelperDyingDriver(t *testing.T) {
	mode := os.Getenv(dieEnv)
	if mode == "" {
		t.Skip("helper process for TestEmbeddedDriverDeathLeavesNothing")
	}
	report := func(r driverReport) {
		b, _ := json.Marshal(r)
		fmt.Println(string(b))
	}
	ctx := context.Background()
	if err := rayo.Init(ctx, rayo.WithTempDir(os.Getenv("RAYO_TEST_TEMP_DIR")), rayo.WithNumCPUs(1),
		rayo.WithObjectStoreMemory(64<<20), rayo.WithLogToDriver(false)); err != nil {
		report(driverReport{Err: err.Error()})
		os.Exit(1)
	}
	if _, err := rayo.Put(ctx, bytes.Repeat([]byte{7}, 8<<20)); err != nil {
		report(driverReport{Err: err.Error()})
		os.Exit(1)
	}
	ws, err := workerSocket.Remote().Get(ctx)
	if err != nil {
		report(driverReport{Err: err.Error()})
		os.Exit(1)
	}
	report(driverReport{EmbeddedFiles: rayo.EmbeddedFilesForTest(), WorkerSocket: ws})
	// The test looks at what exists, then says when to die.
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	switch mode {
	case "panic":
		go panic("the driver panics") // nothing recovers it: the process dies
		select {}
	case "exit":
		os.Exit(3)
	default:
		select {} // until SIGKILL
	}
}

// markedPids lists the live processes whose environment holds marker:
// the driver's workers and its reaper.
func markedPids(marker string) []int {
	want := []byte("\x00" + markerEnv + "=" + marker + "\x00")
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || !bytes.Contains(append([]byte{0}, env...), want) {
			continue
		}
		if stat, err := os.ReadFile("/proc/" + e.Name() + "/stat"); err == nil {
			if i := bytes.LastIndexByte(stat, ')'); i > 0 && i+2 < len(stat) && (stat[i+2] == 'Z' || stat[i+2] == 'X') {
				continue
			}
		}
		pids = append(pids, pid)
	}
	return pids
}

// A driver with an embedded cluster that panics, calls os.Exit or is
// killed with SIGKILL leaves nothing: its store file, spill directory and
// the socket files of its head, node, runtime and worker are removed, and
// no process of it (worker, reaper) remains.
func TestEmbeddedDriverDeathLeavesNothing(t *testing.T) {
	for _, mode := range []string{"panic", "exit", "kill"} {
		t.Run(mode, func(t *testing.T) {
			b := make([]byte, 8)
			_, _ = rand.Read(b)
			marker := hex.EncodeToString(b)
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperDyingDriver$", "-test.count=1")
			cmd.Env = append(os.Environ(), dieEnv+"="+mode, markerEnv+"="+marker, "RAYO_TEST_TEMP_DIR="+t.TempDir(), "RAYO_ADDRESS=")
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			in, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			var exitErr error
			waited := false
			t.Cleanup(func() {
				for _, pid := range markedPids(marker) {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
				if !waited {
					_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
					<-exited
				}
			})

			lines := make(chan string, 1)
			go func() {
				line, _ := bufio.NewReader(out).ReadString('\n')
				lines <- line
			}()
			var rep driverReport
			select {
			case line := <-lines:
				if err := json.Unmarshal([]byte(line), &rep); err != nil || rep.Err != "" || rep.Store == "" {
					t.Fatalf("driver: %q (%v)\n%s", line, err, stderr.String())
				}
			case <-time.After(60 * time.Second):
				t.Fatalf("the driver did not start its cluster\n%s", stderr.String())
			}
			files := append([]string{rep.Store, rep.SpillDir, rep.WorkerSocket}, rep.Sockets...)
			for _, f := range files {
				if f == "" {
					t.Fatalf("an empty path among %v", files)
				}
			}
			for _, f := range append([]string{rep.Store, rep.WorkerSocket}, rep.Sockets...) {
				if _, err := os.Lstat(f); err != nil {
					t.Fatalf("before the driver dies: %v", err)
				}
			}
			if pids := markedPids(marker); len(pids) < 3 {
				t.Fatalf("expected the driver, a worker and a reaper; found pids %v", pids)
			}

			if mode == "kill" {
				_ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
			} else if _, err := in.Write([]byte("die\n")); err != nil {
				t.Fatal(err)
			}
			select {
			case exitErr = <-exited:
				waited = true
			case <-time.After(30 * time.Second):
				t.Fatal("the driver did not die")
			}
			var ee *exec.ExitError
			if !errors.As(exitErr, &ee) {
				t.Fatalf("the driver's end: %v", exitErr)
			}
			switch mode {
			case "panic":
				if ee.ExitCode() != 2 || !bytes.Contains(stderr.Bytes(), []byte("the driver panics")) {
					t.Fatalf("the driver did not panic: %v\n%s", exitErr, stderr.String())
				}
			case "exit":
				if ee.ExitCode() != 3 {
					t.Fatalf("exit code %d, want 3", ee.ExitCode())
				}
			}

			left := func() []string {
				var l []string
				for _, f := range files {
					if _, err := os.Lstat(f); err == nil {
						l = append(l, f)
					}
				}
				for _, pid := range markedPids(marker) {
					l = append(l, "pid "+strconv.Itoa(pid))
				}
				return l
			}
			deadline := time.Now().Add(30 * time.Second)
			delay := time.Millisecond
			for l := left(); len(l) > 0; l = left() {
				if time.Now().After(deadline) {
					t.Fatalf("left behind by the dead driver: %v", l)
				}
				time.Sleep(delay)
				delay = min(2*delay, 50*time.Millisecond)
			}
		})
	}
}

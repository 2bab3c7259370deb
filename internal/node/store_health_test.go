package node

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rayo-dev/rayo/internal/gcs/gcstest"
	"github.com/rayo-dev/rayo/internal/objstore"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
	"github.com/rayo-dev/rayo/internal/sched"
)

const testToken = "0123456789abcdef0123456789abcdef"

// startTestNode starts a node daemon in this process on head, with its
// store in storeDir; it stops with the test.
func startTestNode(t *testing.T, head, storeDir string, onDrained func()) *Node {
	t.Helper()
	dir := t.TempDir()
	n, err := Start(Config{HeadAddr: head, Token: testToken, Resources: sched.Resources{"CPU": sched.Unit},
		LogsDir: filepath.Join(dir, "logs"), BinariesDir: filepath.Join(dir, "bin"), StoreDir: storeDir,
		ObjectStoreMemory: 1 << 20, OnDrained: onDrained, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Stop)
	return n
}

// nodeState asks the head how it sees node id.
func nodeState(t *testing.T, head *rpc.Client, id string) protocol.NodeState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var st protocol.ClusterStatusReply
	if err := head.Call(ctx, protocol.HeadClusterStatus, &protocol.ClusterStatusRequest{}, &st); err != nil {
		t.Fatal(err)
	}
	for _, n := range st.Nodes {
		if n.Info.NodeID == id {
			return n
		}
	}
	t.Fatalf("the head does not know node %s", id)
	return protocol.NodeState{}
}

func dialHead(t *testing.T, addr string) *rpc.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := rpc.Dial(ctx, addr, testToken)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	delay := time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(delay)
		delay = min(2*delay, 50*time.Millisecond)
	}
}

// A node whose store file was removed says so: Health fails with
// ErrSegmentLost, the head shows it draining with the reason, and the node
// leaves (OnDrained) rather than stay ALIVE and fail every put.
func TestNodeWithLostStoreReportsUnhealthy(t *testing.T) {
	g := gcstest.Start(t, testToken)
	left := make(chan struct{})
	n := startTestNode(t, g.Addr(), t.TempDir(), func() { close(left) })
	head := dialHead(t, g.Addr())
	if err := n.Health(); err != nil {
		t.Fatalf("fresh node: %v", err)
	}
	if st := nodeState(t, head, n.ID()); st.StateName() != "ALIVE" || st.Reason != "" {
		t.Fatalf("fresh node: %s %q", st.StateName(), st.Reason)
	}

	if err := os.Remove(n.StorePath()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the node to notice its store is gone", func() bool { return n.Health() != nil })
	if err := n.Health(); !errors.Is(err, objstore.ErrSegmentLost) {
		t.Fatalf("Health = %v, want ErrSegmentLost", err)
	}
	var st protocol.NodeState
	waitFor(t, "the head to show the node draining with a reason", func() bool {
		st = nodeState(t, head, n.ID())
		return st.Draining && st.Reason != ""
	})
	if !strings.HasPrefix(st.Reason, "object store lost") {
		t.Errorf("reason %q", st.Reason)
	}
	select {
	case <-left:
	case <-time.After(20 * time.Second):
		t.Fatal("the node did not leave the cluster")
	}
}

// nsHelperEnv makes this test binary, run as a child, start a node daemon
// whose head is at the value's address and whose store is in
// $RAYO_TEST_STORE_DIR (its other files in $RAYO_TEST_NODE_DIR), print
// {"store":..., "pid":..., "node":..., "addr":...} and
// serve until killed (TestHelperNodeProcess).
const nsHelperEnv = "RAYO_TEST_NODE_HEAD"

// TestHelperNodeProcess is the node daemon of
// TestSweepSparesLiveNodeInOtherPIDNamespace, run in another namespace.
func TestHelperNodeProcess(t *testing.T) {
	head := os.Getenv(nsHelperEnv)
	if head == "" {
		t.Skip("helper process for TestSweepSparesLiveNodeInOtherPIDNamespace")
	}
	dir := os.Getenv("RAYO_TEST_NODE_DIR")
	n, err := Start(Config{HeadAddr: head, Token: testToken, Resources: sched.Resources{"CPU": sched.Unit},
		LogsDir: filepath.Join(dir, "logs"), BinariesDir: filepath.Join(dir, "bin"),
		StoreDir: os.Getenv("RAYO_TEST_STORE_DIR"), ObjectStoreMemory: 1 << 20,
		Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	b, _ := json.Marshal(map[string]any{"store": n.StorePath(), "pid": os.Getpid(), "node": n.ID(), "addr": n.Addr()})
	fmt.Println(string(b))
	select {} // until the namespace is torn down
}

// freePid returns a pid that no process of this namespace has, so that
// the old pid-based sweep (kill(pid, 0) == ESRCH) would have taken a store
// named with it for a dead one.
func freePid(t *testing.T) int {
	for pid := 400; pid < 30000; pid++ {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			if err := syscall.Kill(pid-1, 0); errors.Is(err, syscall.ESRCH) {
				return pid
			}
		}
	}
	t.Skip("no free pid below 30000")
	return 0
}

// A node daemon in another PID namespace that shares the store directory
// keeps its store when a daemon of this namespace starts and sweeps: its
// pid (which means nothing here) is never asked, its lock is. The node
// is made to get a pid that does not exist here (ns_last_pid), which the
// old sweep took for a dead owner.
func TestSweepSparesLiveNodeInOtherPIDNamespace(t *testing.T) {
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("unshare (util-linux) is not installed")
	}
	if out, err := exec.Command(unshare, "--pid", "--fork", "--mount-proc", "true").CombinedOutput(); err != nil {
		t.Skipf("this machine does not allow a new PID namespace here: %v: %s", err, out)
	}
	g := gcstest.Start(t, testToken)
	storeDir := t.TempDir()
	target := freePid(t)
	// sh is the namespace's pid 1: it sets the next pid, then starts the
	// node daemon in the background (one fork: it gets target) and waits.
	script := fmt.Sprintf(`echo %d > /proc/sys/kernel/ns_last_pid 2>/dev/null; "$0" -test.run='^TestHelperNodeProcess$' -test.count=1 & wait`, target-1)
	cmd := exec.Command(unshare, "--pid", "--fork", "--mount-proc", "--kill-child", "sh", "-c", script, os.Args[0])
	cmd.Env = append(os.Environ(), nsHelperEnv+"="+g.Addr(), "RAYO_TEST_STORE_DIR="+storeDir, "RAYO_TEST_NODE_DIR="+t.TempDir())
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	// unshare --kill-child takes the namespace's pid 1, hence everything
	// in it, down with it.
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); <-exited })

	type hello struct {
		Store, Node, Addr string
		Pid               int
	}
	got := make(chan hello, 1)
	go func() {
		var h hello
		line, _ := bufio.NewReader(out).ReadString('\n')
		_ = json.Unmarshal([]byte(line), &h)
		got <- h
	}()
	var h hello
	select {
	case h = <-got:
	case <-time.After(60 * time.Second):
		t.Fatal("the node in the other namespace did not start")
	}
	if h.Store == "" {
		t.Fatal("the node in the other namespace failed to start")
	}
	// Killed with its namespace, it cannot remove its socket file.
	t.Cleanup(func() { _ = os.Remove(rpc.UnixPath(h.Addr)) })
	t.Logf("node %s in the other namespace: pid %d there, store %s", h.Node, h.Pid, h.Store)
	if !strings.HasSuffix(h.Store, "-"+strconv.Itoa(h.Pid)) {
		t.Fatalf("store %s is not named with its owner's pid %d", h.Store, h.Pid)
	}
	if err := syscall.Kill(h.Pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Logf("pid %d of the other namespace also exists here (ns_last_pid not honoured): this run does not tell the old sweep from the new", h.Pid)
	}

	// A daemon starting here sweeps the shared directory.
	startTestNode(t, g.Addr(), storeDir, nil)
	if _, err := os.Stat(h.Store); err != nil {
		t.Fatalf("the sweep removed the store of a live node in another PID namespace: %v", err)
	}
	m := objstore.NewMapper()
	defer m.Close()
	if _, err := m.Bytes(objstore.Location{Path: h.Store, Size: 64}); err != nil {
		t.Fatalf("the live node's store cannot be mapped after the sweep: %v", err)
	}
	head := dialHead(t, g.Addr())
	if st := nodeState(t, head, h.Node); st.StateName() != "ALIVE" {
		t.Fatalf("the node in the other namespace is %s (%s)", st.StateName(), st.Reason)
	}
}

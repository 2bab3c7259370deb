package testcluster

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		RemoveBuilds()
		os.Exit(code)
	}))
}

func aliveCount(c *Cluster, t *testing.T) int {
	n := 0
	for _, s := range c.Nodes(t) {
		if s.Alive {
			n++
		}
	}
	return n
}

func TestStartAddKill(t *testing.T) {
	c := Start(t, NodeSpec{CPUs: 1}, NodeSpec{CPUs: 1, Resources: map[string]float64{"special": 1},
		Labels: map[string]string{"zone": "a", "tier": "x"}})
	if c.Address() == "" || c.Token() == "" {
		t.Fatalf("address %q, token %q", c.Address(), c.Token())
	}
	if n := aliveCount(c, t); n != 2 {
		t.Fatalf("%d nodes alive, want 2", n)
	}
	nodes := c.NodeProcs()
	if len(nodes) != 1 || nodes[0].NodeID == "" || nodes[0].Addr == "" {
		t.Fatalf("node procs: %+v", nodes)
	}
	if got := c.NodeIDWithResource(t, "special"); got != nodes[0].NodeID {
		t.Fatalf("NodeIDWithResource(special) = %s, want %s", got, nodes[0].NodeID)
	}
	for _, s := range c.Nodes(t) {
		switch s.Info.NodeID {
		case nodes[0].NodeID:
			if s.Info.Labels["zone"] != "a" || s.Info.Labels["tier"] != "x" {
				t.Errorf("labels %v", s.Info.Labels)
			}
			if s.Info.IsHead {
				t.Errorf("the node claims to be the head")
			}
		case c.HeadNodeID():
			if !s.Info.IsHead {
				t.Errorf("the head's node does not say it is the head")
			}
		default:
			t.Errorf("unexpected node %s", s.Info.NodeID)
		}
	}

	extra := c.AddNode(t, NodeSpec{CPUs: 0.5, Resources: map[string]float64{"extra": 2}})
	if n := aliveCount(c, t); n != 3 {
		t.Fatalf("%d nodes alive after AddNode, want 3", n)
	}
	if got := c.NodeIDWithResource(t, "extra"); got != extra.NodeID {
		t.Fatalf("NodeIDWithResource(extra) = %s, want %s", got, extra.NodeID)
	}
	c.KillNode(t, extra)
	if n := aliveCount(c, t); n != 2 {
		t.Fatalf("%d nodes alive after KillNode, want 2", n)
	}
	if pids := c.WorkerPids(t); len(pids) != 0 {
		t.Fatalf("workers without a job: %v", pids)
	}
	// The head, its machine's node daemon, and the node left.
	if len(c.DaemonPids()) != 3 {
		t.Fatalf("daemon pids %v, want 3", c.DaemonPids())
	}
}

func TestSeparateDirs(t *testing.T) {
	c := Start(t, NodeSpec{CPUs: 1}, NodeSpec{CPUs: 1, SeparateDirs: true})
	n := c.NodeProcs()[0]
	if n.TempDir == c.TempDir() || n.WorkDir == c.Head().WorkDir {
		t.Fatalf("node dirs %s %s not separate from the head's %s %s", n.TempDir, n.WorkDir, c.TempDir(), c.Head().WorkDir)
	}
	nodeSess, err := n.SessionDir()
	if err != nil {
		t.Fatal(err)
	}
	headSess, err := c.Head().SessionDir()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(nodeSess, n.TempDir) || nodeSess == headSess {
		t.Fatalf("node session %s, head session %s", nodeSess, headSess)
	}
	if _, err := os.Stat(filepath.Join(nodeSess, "token")); err == nil {
		t.Errorf("the separate node's session has a token file; it should have taken --token only")
	}
}

func TestDetached(t *testing.T) {
	c := StartDetached(t, NodeSpec{CPUs: 1}, NodeSpec{CPUs: 1})
	if n := aliveCount(c, t); n != 2 {
		t.Fatalf("%d nodes alive, want 2", n)
	}
	if pids := c.DaemonPids(); len(pids) != 3 { // head, its node daemon, the node
		t.Fatalf("daemon pids %v, want 3", pids)
	}
	if c.Head().Exited() {
		t.Fatal("the detached head counts as exited")
	}
}

func TestSpawnAndRun(t *testing.T) {
	out, err := Run(t, 10*time.Second, Command{Path: "/bin/sh", Args: []string{"-c", "echo $" + MarkerEnv}, Marker: "m1"})
	if err != nil || strings.TrimSpace(out) != "m1" {
		t.Fatalf("Run: %q, %v", out, err)
	}
	p := Spawn(t, Command{Name: "sleeper", Path: "/bin/sh", Args: []string{"-c", "echo up; exec sleep 600"}})
	WaitFor(t, 10*time.Second, func() bool { return strings.Contains(p.Output(), "up") }, "the sleeper's output")
	// The shell execs sleep right after printing: while the exec is under
	// way /proc briefly hides the environment, so wait for the steady state.
	WaitFor(t, 10*time.Second, func() bool {
		got := MarkedPids(p.Marker)
		return len(got) == 1 && got[0] == p.Pid
	}, "MarkedPids to find exactly the sleeper")
	p.Signal(syscall.SIGTERM)
	if !p.Wait(10 * time.Second) {
		t.Fatal("the sleeper survived SIGTERM")
	}
	if Alive(p.Pid) {
		t.Fatal("Alive after exit")
	}
}

package cluster

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"go.uber.org/goleak"

	"github.com/rayo-dev/rayo/dashboard"
	"github.com/rayo-dev/rayo/internal/gcs"
	"github.com/rayo-dev/rayo/internal/node"
	"github.com/rayo-dev/rayo/internal/rpc"
	"github.com/rayo-dev/rayo/internal/sched"
)

const token = "cluster-test-token"

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// config is a head, its dashboard and a node, every file under dir.
func config(dir string) Config {
	return Config{
		Head:      &gcs.Config{Token: token, BinariesDir: filepath.Join(dir, "bin"), Log: quiet},
		Dashboard: &dashboard.Config{Listen: "127.0.0.1:0", Token: token, SessionDir: dir, Log: quiet},
		Node: &node.Config{Token: token, Resources: sched.Resources{"CPU": sched.Unit}, LogsDir: filepath.Join(dir, "logs"),
			BinariesDir: filepath.Join(dir, "bin"), StoreDir: dir, SpillDir: filepath.Join(dir, "spill"),
			ObjectStoreMemory: 16 << 20, Log: quiet},
	}
}

// taken holds a TCP port open for the test's life.
func taken(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln.Addr().String()
}

// started records what a start left on disk, to check it is all gone.
type started struct{ sockets, files []string }

func (s *started) hooks(cfg *Config) {
	cfg.OnHead = func(g *gcs.Server) error { s.sockets = append(s.sockets, rpc.UnixPath(g.Addr())); return nil }
	prev := cfg.OnNode
	cfg.OnNode = func(n *node.Node) error {
		s.sockets = append(s.sockets, rpc.UnixPath(n.Addr()))
		s.files = append(s.files, n.StorePath())
		if prev != nil {
			return prev(n)
		}
		return nil
	}
}

// children lists the live processes whose parent is this one.
func children(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	var out []string
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so split after it.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(os.Getpid()) && f[0] != "Z" {
			out = append(out, e.Name())
		}
	}
	return out
}

// gone fails t for each socket, file or child process a stopped cluster
// left.
func (s *started) gone(t *testing.T) {
	t.Helper()
	if c := children(t); len(c) > 0 {
		t.Errorf("child processes left: %v", c)
	}
	for _, p := range append(append([]string(nil), s.sockets...), s.files...) {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still there after the cluster stopped (%v)", p, err)
		}
	}
}

func TestStartStop(t *testing.T) {
	dir := t.TempDir()
	cfg := config(dir)
	var s started
	s.hooks(&cfg)
	c, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c.Head() == nil || c.Dashboard() == nil || c.Node() == nil {
		t.Fatalf("not everything started: %+v", c)
	}
	if len(s.sockets) != 2 || s.sockets[0] == "" || s.sockets[1] == "" {
		t.Fatalf("sockets: %q", s.sockets)
	}
	for _, p := range append(s.sockets, s.files...) {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("a running cluster's %s: %v", p, err)
		}
	}
	select {
	case <-c.Failed():
		t.Fatalf("failed at once: %v", c.Err())
	default:
	}
	c.Stop()
	c.Stop() // twice is fine
	s.gone(t)
	goleak.VerifyNone(t)
}

// A step that fails stops what the steps before it started: nothing runs
// and nothing stays on disk, and the error names the step.
func TestFailedStartCleansUp(t *testing.T) {
	hookErr := errors.New("the hook refused")
	for _, tc := range []struct {
		name, step string
		change     func(*Config)
		is         error
	}{
		{"head port taken", "starting the head", func(c *Config) { c.Head.Listen = taken(t) }, syscall.EADDRINUSE},
		{"dashboard port taken", "starting the dashboard", func(c *Config) { c.Dashboard.Listen = taken(t) }, syscall.EADDRINUSE},
		{"node port taken", "starting the node daemon", func(c *Config) { c.Node.Listen = taken(t) }, syscall.EADDRINUSE},
		{"node hook fails", "after starting the node daemon", func(c *Config) {
			c.OnNode = func(*node.Node) error { return hookErr }
		}, hookErr},
		{"node without a token", "starting the node daemon", func(c *Config) { c.Node.Token = "" }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := config(dir)
			tc.change(&cfg)
			var s started
			s.hooks(&cfg)
			c, err := Start(cfg)
			if err == nil {
				c.Stop()
				t.Fatal("started")
			}
			if c != nil {
				t.Errorf("a failed Start returned a cluster")
			}
			if !strings.Contains(err.Error(), tc.step) {
				t.Errorf("error %q does not name the step %q", err, tc.step)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			s.gone(t)
			goleak.VerifyNone(t)
		})
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"nothing", Config{}},
		{"dashboard without head", Config{Dashboard: &dashboard.Config{}, Node: &node.Config{HeadAddr: "127.0.0.1:1"}}},
		{"node without head address", Config{Node: &node.Config{}}},
	} {
		if _, err := Start(tc.cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	ok := Config{Node: &node.Config{HeadAddr: "127.0.0.1:1"}}
	if err := ok.Validate(); err != nil {
		t.Errorf("a node joining a head elsewhere: %v", err)
	}
}

// children sees a child process (so that gone can fail).
func TestChildrenSeesAChild(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Skipf("no sleep: %v", err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	if c := children(t); !slices.Contains(c, strconv.Itoa(cmd.Process.Pid)) {
		t.Errorf("children() = %v, without the child %d", c, cmd.Process.Pid)
	}
}

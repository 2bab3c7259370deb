package integration_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/internal/testcluster"
)

// Tasks and an actor that print a line on their worker's stdout.
type actLogger struct{}

var (
	logLine = rayo.Register[Where]("itest.logLine", func(line string) Where {
		fmt.Println(line)
		return Where{NodeID: rayo.NodeID(), Pid: os.Getpid()}
	})
	loggerActor = rayo.RegisterActor[actLogger]("itest.Logger", func() *actLogger { return &actLogger{} })
	lSay        = rayo.RegisterMethod[Where](loggerActor, "Say", func(_ *actLogger, line string) Where {
		fmt.Println(line)
		return Where{NodeID: rayo.NodeID(), Pid: os.Getpid()}
	})
)

// uniqueLine is a line no other test prints.
func uniqueLine(what string) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "itest-" + what + "-" + hex.EncodeToString(b)
}

// logFileRow is a row of rayo logs --format json.
type logFileRow struct {
	NodeID   string `json:"node_id"`
	Filename string `json:"filename"`
	Size     int64  `json:"size_bytes"`
	Pid      int    `json:"pid"`
	JobID    string `json:"job_id"`
	Kind     string `json:"kind"`
}

func listLogFiles(t *testing.T, c *testcluster.Cluster) []logFileRow {
	t.Helper()
	out, err := c.Rayo(t, "logs", "--format", "json", "--temp-dir", c.TempDir())
	if err != nil {
		t.Fatalf("rayo logs: %v\n%s", err, out)
	}
	var rows []logFileRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("rayo logs --format json printed something else than JSON: %v\n%s", err, out)
	}
	return rows
}

// waitRayoOutput runs rayo with args until its output contains want.
func waitRayoOutput(t *testing.T, c *testcluster.Cluster, want string, args ...string) string {
	t.Helper()
	args = append(args, "--temp-dir", c.TempDir())
	var out string
	var err error
	c.WaitFor(t, 30*time.Second, func() bool {
		out, err = c.Rayo(t, args...)
		return err == nil && strings.Contains(out, want)
	}, fmt.Sprintf("rayo %s to print %q (last: %v\n%s)", strings.Join(args, " "), want, err, out))
	return out
}

// syncBuffer is a bytes.Buffer that a process writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestLogsCommand(t *testing.T) {
	c := startCluster(t)
	connect(t, c)
	ctx := withTimeout(t, 2*time.Minute)
	headID, otherID := c.HeadNodeID(), c.NodeIDWithResource(t, "special")

	// A task on each node prints a line.
	headLine, otherLine := uniqueLine("head"), uniqueLine("other")
	onHead, err := logLine.Options(rayo.NodeAffinity(headID, false)).Remote(headLine).Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	onOther, err := logLine.Options(rayo.Resources(special)).Remote(otherLine).Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if onHead.NodeID != headID || onOther.NodeID != otherID {
		t.Fatalf("the tasks ran on %s and %s, want %s and %s", onHead.NodeID, onOther.NodeID, headID, otherID)
	}

	// The list has both workers' logs, each on its node, and the daemons'.
	var rows []logFileRow
	find := func(node, kind string, pid int, name string) *logFileRow {
		for i, r := range rows {
			if r.NodeID == node && r.Kind == kind && (pid == 0 || r.Pid == pid) && (name == "" || r.Filename == name) {
				return &rows[i]
			}
		}
		return nil
	}
	c.WaitFor(t, 30*time.Second, func() bool {
		rows = listLogFiles(t, c)
		return find(headID, "worker", onHead.Pid, "") != nil && find(otherID, "worker", onOther.Pid, "") != nil
	}, "rayo logs to list both workers' logs")
	if find(headID, "daemon", 0, "head.log") == nil || find(otherID, "daemon", 0, "node-"+otherID+".log") == nil {
		t.Errorf("rayo logs does not list the daemons' logs: %+v", rows)
	}
	for _, r := range rows {
		if r.Kind == "worker" && r.NodeID == headID && strings.Contains(r.Filename, otherID) {
			t.Errorf("the head lists the other node's worker log %s", r.Filename)
		}
	}
	jobID := find(headID, "worker", onHead.Pid, "").JobID
	if jobID == "" || find(otherID, "worker", onOther.Pid, "").JobID != jobID {
		t.Errorf("the workers' logs do not name the job: %+v", rows)
	}
	table, err := c.Rayo(t, "logs", "--temp-dir", c.TempDir())
	if err != nil || !strings.Contains(table, "FILENAME") || !strings.Contains(table, "head.log") {
		t.Errorf("rayo logs (table): %v\n%s", err, table)
	}

	// A worker's log by pid and node; then the job's logs, both.
	out := waitRayoOutput(t, c, otherLine, "logs", "--pid", fmt.Sprint(onOther.Pid), "--node-id", otherID)
	if strings.Contains(out, headLine) {
		t.Errorf("the other node's worker log has the head's line:\n%s", out)
	}
	out = waitRayoOutput(t, c, headLine, "logs", "--pid", fmt.Sprint(onHead.Pid), "--node-id", headID, "--tail", "1")
	if strings.TrimSpace(out) != headLine {
		t.Errorf("--tail 1 printed %q, want the line", out)
	}
	out = waitRayoOutput(t, c, headLine, "logs", "--job-id", jobID)
	if !strings.Contains(out, otherLine) || !strings.Contains(out, "==> node "+otherID) {
		t.Errorf("rayo logs --job-id lacks the other node's file:\n%s", out)
	}
	for _, tc := range [][]string{
		{"--pid", "999999999", "no log file of worker pid 999999999"},
		{"--actor-id", "ffffffffffff", "knows no actor ffffffffffff"},
		{"--task-id", "ffffffffffff", "knows no task ffffffffffff"},
		{"no-such.log", "--node-id", headID, "no log file"},
	} {
		want := tc[len(tc)-1]
		args := append(append([]string{"logs"}, tc[:len(tc)-1]...), "--temp-dir", c.TempDir())
		if out, err := c.Rayo(t, args...); err == nil || !strings.Contains(out, want) {
			t.Errorf("rayo %v: %v\n%s\nwant an error saying %q", args, err, out, want)
		}
	}

	// An actor's log, by its ID.
	h := newActor(t, loggerActor)
	actorLine := uniqueLine("actor")
	mustGet(t, lSay.Remote(h, actorLine), "Say")
	waitRayoOutput(t, c, actorLine, "logs", "--actor-id", h.ID())

	// --follow shows what the actor prints after the follow began.
	fctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(fctx, testcluster.BuildRayo(t), "logs", "--actor-id", h.ID(), "--follow", "--temp-dir", c.TempDir())
	cmd.Env = testcluster.Env(c.Marker())
	var followed syncBuffer
	cmd.Stdout, cmd.Stderr = &followed, &followed
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c.WaitFor(t, 30*time.Second, func() bool { return strings.Contains(followed.String(), actorLine) },
		"rayo logs --follow to print the actor's first line")
	later := uniqueLine("later")
	mustGet(t, lSay.Remote(h, later), "Say")
	c.WaitFor(t, 30*time.Second, func() bool { return strings.Contains(followed.String(), later) },
		"rayo logs --follow to print a line the actor printed after the follow began")
	cancel()
	_ = cmd.Wait()
}

// The driver prints its workers' output prefixed (task pid=N node=X),
// and not at all with WithLogToDriver(false); the worker's log has it
// either way.
func TestWorkerOutputReachesTheDriver(t *testing.T) {
	c := testcluster.Start(t, testcluster.NodeSpec{CPUs: 1})
	bin := testcluster.BuildProgram(t, "./tests/integration/testdata/logdriver")
	ranRe := regexp.MustCompile(`(?m)^ran pid (\d+) node (\S+)$`)
	for _, toDriver := range []bool{true, false} {
		t.Run(fmt.Sprintf("log-to-driver=%v", toDriver), func(t *testing.T) {
			line := uniqueLine("driver")
			release := filepath.Join(t.TempDir(), "release")
			p := testcluster.Spawn(t, testcluster.Command{Name: "logdriver", Path: bin, Dir: t.TempDir(),
				Args: []string{"-line", line, "-wait-for", release, fmt.Sprintf("-log-to-driver=%v", toDriver)},
				Env:  []string{"RAYO_ADDRESS=" + c.Address(), "RAYO_TOKEN=" + c.Token()}})
			var m []string
			c.WaitFor(t, time.Minute, func() bool {
				if p.Exited() {
					t.Fatalf("logdriver exited: %v\n%s", p.ExitErr(), p.Output())
				}
				m = ranRe.FindStringSubmatch(p.Output())
				return m != nil
			}, "logdriver to run its task")
			pid, node := m[1], m[2]
			// The worker's log has the line in any case.
			waitRayoOutput(t, c, line, "logs", "--pid", pid, "--node-id", node)
			prefixed := regexp.MustCompile(`\(\S+ pid=` + pid + ` node=` + regexp.QuoteMeta(node[:8]) + `\) ` + line)
			if toDriver {
				c.WaitFor(t, 30*time.Second, func() bool { return prefixed.MatchString(p.Output()) },
					"the driver to print the worker's line with its prefix")
			}
			touch(t, release)
			if !p.Wait(time.Minute) {
				t.Fatalf("logdriver did not exit:\n%s", p.Output())
			}
			out := p.Output()
			if err := p.ExitErr(); err != nil {
				t.Fatalf("logdriver: %v\n%s", err, out)
			}
			if !toDriver && strings.Contains(out, line) {
				t.Errorf("with WithLogToDriver(false) the driver printed the worker's line:\n%s", out)
			}
		})
	}
}

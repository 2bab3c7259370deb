package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
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
	"github.com/rayo-dev/rayo/internal/pki"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
	"github.com/rayo-dev/rayo/internal/session"
)

const testToken = "jobs-test-token"

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// startHead starts a real head in-process and returns a caller to it.
func startHead(t *testing.T) Caller {
	t.Helper()
	g := gcstest.Start(t, testToken)
	c, err := rpc.Dial(context.Background(), g.Addr(), testToken)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c.Call
}

func newManager(t *testing.T, call Caller, session string) *Manager {
	t.Helper()
	for _, d := range []string{"logs", "jobs"} {
		if err := os.MkdirAll(filepath.Join(session, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	m, err := New(Config{SessionDir: session, HeadAddr: "127.0.0.1:6379", Token: testToken, Call: call,
		StopGrace: time.Second, PollInterval: 20 * time.Millisecond, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

// waitFor polls cond until it holds, failing the test after a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitEnd(t *testing.T, m *Manager, id string) Info {
	t.Helper()
	select {
	case <-m.Done(id):
	case <-time.After(time.Minute):
		t.Fatalf("job %s did not end", id)
	}
	info, err := m.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// stored reads job id's record from the head's key-value store.
func stored(t *testing.T, call Caller, id string) Info {
	t.Helper()
	var v protocol.KVGetReply
	if err := call(context.Background(), protocol.HeadKVGet, &protocol.KVKeyRequest{Namespace: Namespace, Key: id}, &v); err != nil {
		t.Fatal(err)
	}
	var info Info
	if !v.Found {
		return info
	}
	if err := json.Unmarshal(v.Value, &info); err != nil {
		t.Fatal(err)
	}
	return info
}

func TestStateMachine(t *testing.T) {
	all := []Status{Pending, Running, Stopped, Succeeded, Failed}
	allowed := map[[2]Status]bool{
		{Pending, Running}: true, {Pending, Stopped}: true, {Pending, Failed}: true,
		{Running, Stopped}: true, {Running, Succeeded}: true, {Running, Failed}: true,
	}
	for _, from := range all {
		for _, to := range all {
			if got := CanMove(from, to); got != allowed[[2]Status{from, to}] {
				t.Errorf("CanMove(%s, %s) = %v", from, to, got)
			}
		}
		if from.Terminal() != (from == Stopped || from == Succeeded || from == Failed) {
			t.Errorf("%s.Terminal() = %v", from, from.Terminal())
		}
	}
}

func TestMatchDriver(t *testing.T) {
	info := Info{Pid: 100, StartTime: 1000, EndTime: 5000}
	pgid := map[int]int{200: 100, 300: 999}
	pgidOf := func(pid int) (int, bool) { g, ok := pgid[pid]; return g, ok }
	cases := []struct {
		name string
		jobs []protocol.JobState
		want string
	}{
		{"none", nil, ""},
		{"the process itself", []protocol.JobState{{JobID: "j1", DriverPid: 100, StartedAt: 1500}}, "j1"},
		{"a child in its group", []protocol.JobState{{JobID: "j2", DriverPid: 200, StartedAt: 1500, Alive: true}}, "j2"},
		{"a process of another group", []protocol.JobState{{JobID: "j3", DriverPid: 300, StartedAt: 1500, Alive: true}}, ""},
		{"before the job started", []protocol.JobState{{JobID: "j4", DriverPid: 100, StartedAt: 900}}, ""},
		{"after it ended", []protocol.JobState{{JobID: "j5", DriverPid: 100, StartedAt: 6000}}, ""},
		{"the earliest of two", []protocol.JobState{{JobID: "late", DriverPid: 100, StartedAt: 3000}, {JobID: "early", DriverPid: 100, StartedAt: 2000}}, "early"},
	}
	for _, c := range cases {
		if got := matchDriver(c.jobs, info, pgidOf); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

func packDir(t *testing.T, files map[string]string) *bytes.Buffer {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := Pack(dir, &buf); err != nil {
		t.Fatal(err)
	}
	return &buf
}

func TestJobRunsInItsWorkingDirectory(t *testing.T) {
	call := startHead(t)
	session := t.TempDir()
	m := newManager(t, call, session)
	pkg := packDir(t, map[string]string{
		"run.sh":    "#!/bin/sh\necho \"pwd=$(pwd)\"\necho \"addr=$RAYO_ADDRESS token=$RAYO_TOKEN foo=$FOO\"\ncat input.txt\necho to-stderr >&2\n",
		"input.txt": "the input\n",
	})
	info, err := m.Submit(context.Background(), Submission{ID: "ok-1", Entrypoint: []string{"./run.sh"}, Env: map[string]string{"FOO": "bar"}}, pkg)
	if err != nil {
		t.Fatal(err)
	}
	if info.Status != Running || info.Pid == 0 {
		t.Fatalf("after submit: %+v", info)
	}
	info = waitEnd(t, m, "ok-1")
	if info.Status != Succeeded || info.ExitCode == nil || *info.ExitCode != 0 || info.EndTime < info.StartTime {
		t.Fatalf("ended as %+v", info)
	}
	wd := filepath.Join(session, "jobs", "ok-1", "working_dir")
	var log bytes.Buffer
	if err := m.ReadLog("ok-1", 0, &log); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"pwd=" + wd, "addr=127.0.0.1:6379 token=" + testToken + " foo=bar", "the input", "to-stderr"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("the log lacks %q:\n%s", want, log.String())
		}
	}
	if log.String() != mustRead(t, filepath.Join(session, "logs", "job-ok-1.log")) {
		t.Error("ReadLog is not the log file")
	}
	if got := stored(t, call, "ok-1"); got.Status != Succeeded || got.Message == "" {
		t.Errorf("the head's record: %+v", got)
	}
	if list, err := m.List(context.Background()); err != nil || len(list) != 1 || list[0].SubmissionID != "ok-1" {
		t.Errorf("List: %+v, %v", list, err)
	}
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestFailingAndUnstartableJobs(t *testing.T) {
	m := newManager(t, startHead(t), t.TempDir())
	ctx := context.Background()
	if _, err := m.Submit(ctx, Submission{ID: "fails", Entrypoint: []string{"sh", "-c", "echo oops; exit 3"}}, nil); err != nil {
		t.Fatal(err)
	}
	info := waitEnd(t, m, "fails")
	if info.Status != Failed || info.ExitCode == nil || *info.ExitCode != 3 || !strings.Contains(info.Message, "status 3") {
		t.Fatalf("failing job: %+v", info)
	}
	info, err := m.Submit(ctx, Submission{ID: "nope", Entrypoint: []string{"./does-not-exist"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if info.Status != Failed || !strings.Contains(info.Message, "could not start") {
		t.Fatalf("unstartable job: %+v", info)
	}
	var log bytes.Buffer
	_ = m.ReadLog("nope", 0, &log)
	if !strings.Contains(log.String(), "could not start") {
		t.Errorf("the unstartable job's log: %q", log.String())
	}
}

func TestSubmitRefusals(t *testing.T) {
	call := startHead(t)
	session := t.TempDir()
	m := newManager(t, call, session)
	ctx := context.Background()
	if _, err := m.Submit(ctx, Submission{ID: "dup", Entrypoint: []string{"true"}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Submit(ctx, Submission{ID: "dup", Entrypoint: []string{"true"}}, nil); !errors.Is(err, ErrDuplicate) {
		t.Errorf("duplicate: %v", err)
	}
	for name, sub := range map[string]Submission{
		"no entrypoint":   {},
		"bad id":          {ID: "../x", Entrypoint: []string{"true"}},
		"bad env name":    {Entrypoint: []string{"true"}, Env: map[string]string{"A=B": "c"}},
		"token overwrite": {Entrypoint: []string{"true"}, Env: map[string]string{"RAYO_TOKEN": "c"}},
	} {
		if _, err := m.Submit(ctx, sub, nil); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	// A bad package: refused, and nothing is left of the submission.
	if _, err := m.Submit(ctx, Submission{ID: "badpkg", Entrypoint: []string{"true"}}, tarball(t, entry{name: "../x", body: "x"})); !errors.Is(err, ErrUnsafePath) {
		t.Fatalf("bad package: %v", err)
	}
	if _, err := m.Get(ctx, "badpkg"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the refused job is known: %v", err)
	}
	if _, err := os.Stat(filepath.Join(session, "jobs", "badpkg")); !os.IsNotExist(err) {
		t.Errorf("the refused job's directory is left: %v", err)
	}
	if got := stored(t, call, "badpkg"); got.SubmissionID != "" {
		t.Errorf("the refused job's record is left: %+v", got)
	}
	if _, err := m.Get(ctx, "unknown"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get unknown: %v", err)
	}
	if _, err := m.Stop(ctx, "unknown"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Stop unknown: %v", err)
	}
	// An ID is made when none is given.
	info, err := m.Submit(ctx, Submission{Entrypoint: []string{"true"}}, nil)
	if err != nil || !ValidID(info.SubmissionID) {
		t.Errorf("generated ID %q: %v", info.SubmissionID, err)
	}
}

func TestStop(t *testing.T) {
	m := newManager(t, startHead(t), t.TempDir())
	ctx := context.Background()
	for name, argv := range map[string][]string{
		// sleep in a child: the stop must reach the whole group.
		"sigterm": {"sh", "-c", "sleep 300; echo not-reached"},
		// TERM ignored (inherited by sleep): SIGKILL after the grace.
		"sigkill": {"sh", "-c", "trap '' TERM; sleep 300"},
	} {
		info, err := m.Submit(ctx, Submission{ID: name, Entrypoint: argv}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = syscall.Kill(-info.Pid, syscall.SIGKILL) })
		waitFor(t, "a process in "+name+"'s group besides sh", func() bool { return len(groupMembers(info.Pid)) >= 2 })
		stopped, err := m.Stop(ctx, name)
		if err != nil || !stopped {
			t.Fatalf("Stop %s: %v, %v", name, stopped, err)
		}
		end := waitEnd(t, m, name)
		if end.Status != Stopped || !end.StopRequested {
			t.Fatalf("%s: %+v", name, end)
		}
		waitFor(t, name+"'s process group to be gone", func() bool { return len(groupMembers(info.Pid)) == 0 })
		// Stopping a job that ended changes nothing.
		if stopped, err := m.Stop(ctx, name); err != nil || stopped {
			t.Errorf("Stop after the end: %v, %v", stopped, err)
		}
	}
}

// groupMembers lists the live processes of process group pgid.
func groupMembers(pgid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := readStat(pid); ok && st.pgid == pgid && st.state != 'Z' {
			out = append(out, pid)
		}
	}
	return out
}

func TestFollow(t *testing.T) {
	m := newManager(t, startHead(t), t.TempDir())
	ctx := context.Background()
	// The job waits for the follower to see its first line before it
	// writes the second: the follow streams, it does not just read at the end.
	dir := t.TempDir()
	gate := filepath.Join(dir, "gate")
	script := "echo first; while [ ! -e " + gate + " ]; do sleep 0.05; done; echo second"
	if _, err := m.Submit(ctx, Submission{ID: "follow", Entrypoint: []string{"sh", "-c", script}}, nil); err != nil {
		t.Fatal(err)
	}
	r, w := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		err := m.Follow(ctx, "follow", 0, w, func() {})
		_ = w.CloseWithError(err)
		errc <- err
	}()
	buf := make([]byte, 64)
	n, err := io.ReadAtLeast(r, buf, len("first\n"))
	if err != nil || string(buf[:n]) != "first\n" {
		t.Fatalf("first read: %q, %v", buf[:n], err)
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(r)
	if err != nil || string(rest) != "second\n" {
		t.Fatalf("the rest: %q, %v", rest, err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if err := m.Follow(ctx, "unknown", 0, io.Discard, func() {}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("follow unknown: %v", err)
	}
}

func TestCloseStopsEveryJob(t *testing.T) {
	call := startHead(t)
	m := newManager(t, call, t.TempDir())
	info, err := m.Submit(context.Background(), Submission{ID: "long", Entrypoint: []string{"sleep", "300"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-info.Pid, syscall.SIGKILL) })
	m.Close()
	if sameProcess(info.Pid, info.ProcStart) {
		t.Fatal("the job outlived Close")
	}
	if got := stored(t, call, "long"); got.Status != Stopped || !strings.Contains(got.Message, "head stopped") {
		t.Fatalf("record after Close: %+v", got)
	}
	if _, err := m.Submit(context.Background(), Submission{Entrypoint: []string{"true"}}, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("submit after Close: %v", err)
	}
}

// A restarted head finds the records of the head before it: a job whose
// process still runs is RUNNING and followed; one whose process is gone,
// or that never started, is FAILED.
func TestRecordsSurviveARestart(t *testing.T) {
	call := startHead(t)
	session := t.TempDir()
	// Processes "a previous head" started: not children of the manager.
	startProc := func() (int, uint64) {
		cmd := exec.Command("sleep", "300")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pid := cmd.Process.Pid
		t.Cleanup(func() { _ = syscall.Kill(-pid, syscall.SIGKILL) })
		// Reap it when it dies, as init would for an orphan.
		go func() { _ = cmd.Wait() }()
		st, ok := readStat(pid)
		if !ok {
			t.Fatal("no /proc stat for the process")
		}
		return pid, st.start
	}
	alivePid, aliveStart := startProc()
	stopPid, stopStart := startProc()
	put := func(info Info) {
		b, _ := json.Marshal(info)
		if err := call(context.Background(), protocol.HeadKVPut, &protocol.KVPutRequest{Namespace: Namespace, Key: info.SubmissionID, Value: b, Overwrite: true}, nil); err != nil {
			t.Fatal(err)
		}
	}
	put(Info{SubmissionID: "alive", Status: Running, Entrypoint: []string{"sleep", "300"}, Pid: alivePid, ProcStart: aliveStart, StartTime: 1})
	put(Info{SubmissionID: "to-stop", Status: Running, Entrypoint: []string{"sleep", "300"}, Pid: stopPid, ProcStart: stopStart, StartTime: 1})
	// Same pid, another start time: a reused pid is not the job.
	put(Info{SubmissionID: "reused", Status: Running, Entrypoint: []string{"x"}, Pid: alivePid, ProcStart: aliveStart + 1, StartTime: 1})
	put(Info{SubmissionID: "pending", Status: Pending, Entrypoint: []string{"x"}})
	code := 0
	put(Info{SubmissionID: "done", Status: Succeeded, Entrypoint: []string{"x"}, ExitCode: &code, Message: "fine"})

	m := newManager(t, call, session)
	ctx := context.Background()
	get := func(id string) Info {
		info, err := m.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return info
	}
	if s := get("alive").Status; s != Running {
		t.Errorf("alive: %s", s)
	}
	if i := get("reused"); i.Status != Failed || !strings.Contains(i.Message, "exit status is unknown") {
		t.Errorf("reused: %+v", i)
	}
	if i := get("pending"); i.Status != Failed {
		t.Errorf("pending: %+v", i)
	}
	if i := get("done"); i.Status != Succeeded || i.Message != "fine" {
		t.Errorf("done: %+v", i)
	}
	if got := stored(t, call, "reused"); got.Status != Failed {
		t.Errorf("the settled record was not written back: %+v", got)
	}
	// The taken-over job ends on its own: FAILED, exit status unknown.
	_ = syscall.Kill(alivePid, syscall.SIGKILL)
	if i := waitEnd(t, m, "alive"); i.Status != Failed || i.ExitCode != nil || !strings.Contains(i.Message, "exit status is unknown") {
		t.Errorf("alive after its end: %+v", i)
	}
	// A taken-over job can be stopped.
	if stopped, err := m.Stop(ctx, "to-stop"); err != nil || !stopped {
		t.Fatalf("stop: %v %v", stopped, err)
	}
	if i := waitEnd(t, m, "to-stop"); i.Status != Stopped {
		t.Errorf("to-stop: %+v", i)
	}
	waitFor(t, "the stopped process to be gone", func() bool { return !sameProcess(stopPid, stopStart) })
}

// A job's driver finds the cluster's CA by the session of the default
// temp dir unless told: with a head started with --temp-dir (or another
// session latest there) it ran without TLS, refused by every other
// machine. The head gives the job its CA's fingerprint, with which the
// driver joins (rpc.JoinTLS); without TLS (no CA in the session) none.
func TestJobGetsTheCAFingerprint(t *testing.T) {
	call := startHead(t)
	sess := t.TempDir()
	m := newManager(t, call, sess)
	ctx := context.Background()
	t.Setenv(rpc.EnvCAFingerprint, "") // not the head's environment's
	run := func(id string) string {
		t.Helper()
		if _, err := m.Submit(ctx, Submission{ID: id, Entrypoint: []string{"sh", "-c", `echo "fp=$` + rpc.EnvCAFingerprint + `"`}}, nil); err != nil {
			t.Fatal(err)
		}
		if info := waitEnd(t, m, id); info.Status != Succeeded {
			t.Fatalf("job %s: %+v", id, info)
		}
		var log bytes.Buffer
		if err := m.ReadLog(id, 0, &log); err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(log.String())
	}
	if got := run("plain"); got != "fp=" {
		t.Errorf("a job of a cluster without TLS: %q, want no fingerprint", got)
	}
	ca, err := pki.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sess, session.CAFileName), ca.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, want := run("tls"), "fp="+ca.Fingerprint(); got != want {
		t.Errorf("a job of a cluster with TLS: %q, want %q", got, want)
	}
}

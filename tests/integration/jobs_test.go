package integration_test

// Job submission end to end: `rayo job ...` against the head's HTTP API,
// jobs running as children of the head daemon.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rayo-dev/rayo/internal/jobs"
	"github.com/rayo-dev/rayo/internal/testcluster"
)

// rayoJob runs `rayo job SUB --temp-dir <the cluster's> ARGS...`.
func rayoJob(t *testing.T, c *testcluster.Cluster, sub string, args ...string) (string, error) {
	t.Helper()
	return c.Rayo(t, append([]string{"job", sub, "--temp-dir", c.TempDir()}, args...)...)
}

// jobStatus is `rayo job status ID --format json`.
func jobStatus(t *testing.T, c *testcluster.Cluster, id string) jobs.Info {
	t.Helper()
	out, err := rayoJob(t, c, "status", id, "--format", "json")
	if err != nil {
		t.Fatalf("rayo job status %s: %v\n%s", id, err, out)
	}
	var info jobs.Info
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatalf("rayo job status %s: %v\n%s", id, err, out)
	}
	return info
}

// writeScript writes an executable script into dir.
func writeScript(t *testing.T, dir, name, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
}

// childrenOf lists the live processes whose parent is pid.
func childrenOf(pid int) []int {
	var out []int
	for _, p := range testcluster.Processes() {
		if p.PPid == pid {
			out = append(out, p.Pid)
		}
	}
	return out
}

func TestJobSubmitStatusLogsStopList(t *testing.T) {
	c := testcluster.Start(t, testcluster.NodeSpec{CPUs: 1}, testcluster.NodeSpec{CPUs: 2})

	// A script in the working directory: it runs there, on the head's
	// machine, with the cluster's address.
	wd := t.TempDir()
	writeScript(t, wd, "run.sh", "echo \"job says: $(cat msg.txt)\"\necho \"address=$RAYO_ADDRESS\"\n")
	if err := os.WriteFile(filepath.Join(wd, "msg.txt"), []byte("hello from the working dir"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := rayoJob(t, c, "submit", "--working-dir", wd, "--submission-id", "script-ok", "--", "./run.sh")
	if err != nil || !strings.Contains(out, "job says: hello from the working dir") || !strings.Contains(out, "Job 'script-ok' SUCCEEDED") {
		t.Fatalf("submit: %v\n%s", err, out)
	}
	if !strings.Contains(out, "address="+c.Address()) {
		t.Errorf("the job did not get RAYO_ADDRESS=%s:\n%s", c.Address(), out)
	}
	info := jobStatus(t, c, "script-ok")
	if info.Status != jobs.Succeeded || info.ExitCode == nil || *info.ExitCode != 0 {
		t.Fatalf("status: %+v", info)
	}
	if out, err := rayoJob(t, c, "status", "script-ok"); err != nil || !strings.Contains(out, "SUCCEEDED") {
		t.Fatalf("status (table): %v\n%s", err, out)
	}
	if out, err := rayoJob(t, c, "logs", "script-ok"); err != nil || !strings.HasPrefix(out, "job says: hello from the working dir\n") {
		t.Fatalf("logs: %v\n%s", err, out)
	}
	sess, err := c.Head().SessionDir()
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(sess, "logs", "job-script-ok.log")); err != nil || !strings.Contains(string(b), "job says") {
		t.Fatalf("the log file: %v %q", err, b)
	}
	if b, err := os.ReadFile(filepath.Join(sess, "jobs", "script-ok", "working_dir", "msg.txt")); err != nil || string(b) != "hello from the working dir" {
		t.Fatalf("the unpacked working dir: %v %q", err, b)
	}

	// A failing entrypoint: FAILED with its exit code, and submit fails.
	out, err = rayoJob(t, c, "submit", "--submission-id", "fails", "--", "sh", "-c", "echo about to fail; exit 5")
	if err == nil || !strings.Contains(out, "about to fail") || !strings.Contains(out, "FAILED") {
		t.Fatalf("submit of a failing job: %v\n%s", err, out)
	}
	if info := jobStatus(t, c, "fails"); info.Status != jobs.Failed || info.ExitCode == nil || *info.ExitCode != 5 {
		t.Fatalf("failing job: %+v", info)
	}

	// A long job, stopped.
	writeScript(t, wd, "long.sh", "echo started\nsleep 300\necho not reached\n")
	if out, err := rayoJob(t, c, "submit", "--no-wait", "--working-dir", wd, "--submission-id", "long", "--", "./long.sh"); err != nil {
		t.Fatalf("submit --no-wait: %v\n%s", err, out)
	}
	long := jobStatus(t, c, "long")
	if long.Status != jobs.Running || long.Pid == 0 {
		t.Fatalf("long job: %+v", long)
	}
	var sleepPid int
	c.WaitFor(t, 30*time.Second, func() bool {
		kids := childrenOf(long.Pid)
		if len(kids) == 1 {
			sleepPid = kids[0]
		}
		return sleepPid != 0
	}, "the long job's sleep to start")
	if out, err := rayoJob(t, c, "stop", "long"); err != nil || !strings.Contains(out, "Job 'long' STOPPED") {
		t.Fatalf("stop: %v\n%s", err, out)
	}
	c.WaitFor(t, 10*time.Second, func() bool { return !testcluster.Alive(long.Pid) && !testcluster.Alive(sleepPid) },
		"the stopped job's processes to be gone")
	if info := jobStatus(t, c, "long"); info.Status != jobs.Stopped {
		t.Fatalf("stopped job: %+v", info)
	}
	if out, _ := rayoJob(t, c, "logs", "long"); out != "started\n" {
		t.Errorf("the stopped job's log: %q", out)
	}

	// A real rayo driver: the job joins the cluster and runs tasks on it.
	qs := testcluster.BuildProgram(t, "github.com/rayo-dev/rayo/examples/quickstart")
	dwd := t.TempDir()
	b, err := os.ReadFile(qs)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dwd, "quickstart"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err = rayoJob(t, c, "submit", "--working-dir", dwd, "--submission-id", "driver", "--", "./quickstart")
	if err != nil || !strings.Contains(out, "squares: [0 1 4 9 16 25 36 49 64 81]") || !strings.Contains(out, "3² + 4² + 100 = 125") {
		t.Fatalf("the driver job: %v\n%s", err, out)
	}
	driver := jobStatus(t, c, "driver")
	if driver.Status != jobs.Succeeded || driver.DriverJobID == "" {
		t.Fatalf("the driver job's status: %+v", driver)
	}
	found := false
	for _, j := range c.Status(t).Jobs {
		if j.JobID == driver.DriverJobID {
			found = j.DriverPid == driver.Pid && strings.Contains(j.Entrypoint, "quickstart")
		}
	}
	if !found {
		t.Fatalf("the head lists no driver job %s of pid %d: %+v", driver.DriverJobID, driver.Pid, c.Status(t).Jobs)
	}

	out, err = rayoJob(t, c, "list")
	if err != nil {
		t.Fatalf("list: %v\n%s", err, out)
	}
	for _, want := range []string{"script-ok", "SUCCEEDED", "fails", "FAILED", "long", "STOPPED", "driver", driver.DriverJobID} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
}

// Job records live in the head's key-value store: a head killed with
// SIGKILL and started again knows its jobs. One still running is RUNNING
// (and can be stopped); one that ended while the head was down is
// FAILED, its exit status unknown.
func TestJobRecordsSurviveHeadRestart(t *testing.T) {
	c := testcluster.Start(t, testcluster.NodeSpec{CPUs: 0})
	wd := t.TempDir()
	gate := filepath.Join(t.TempDir(), "gate")
	writeScript(t, wd, "long.sh", "echo started\nsleep 300\n")
	writeScript(t, wd, "gated.sh", "while [ ! -e "+gate+" ]; do sleep 0.05; done\nexit 3\n")
	if out, err := rayoJob(t, c, "submit", "--working-dir", wd, "--submission-id", "done", "--", "true"); err != nil {
		t.Fatalf("submit done: %v\n%s", err, out)
	}
	for _, id := range []string{"long", "gated"} {
		if out, err := rayoJob(t, c, "submit", "--no-wait", "--working-dir", wd, "--submission-id", id, "--", "./"+id+".sh"); err != nil {
			t.Fatalf("submit %s: %v\n%s", id, err, out)
		}
	}
	long, gated := jobStatus(t, c, "long"), jobStatus(t, c, "gated")
	// A follower of the log: it goes on through the restart, to the end.
	follower := testcluster.Spawn(t, testcluster.Command{Name: "rayo job logs --follow", Path: testcluster.BuildRayo(t),
		Args: []string{"job", "logs", "long", "--follow", "--temp-dir", c.TempDir()}})
	c.WaitFor(t, 30*time.Second, func() bool { return follower.Output() == "started\n" }, "the follower to print the log")

	c.KillNode(t, c.Head())
	// The jobs live on without their head; one ends meanwhile.
	if !testcluster.Alive(long.Pid) || !testcluster.Alive(gated.Pid) {
		t.Fatal("a job died with its head")
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	c.WaitFor(t, 30*time.Second, func() bool { return !testcluster.Alive(gated.Pid) }, "the gated job to exit")
	c.RestartHead(t)

	if info := jobStatus(t, c, "done"); info.Status != jobs.Succeeded {
		t.Errorf("done after the restart: %+v", info)
	}
	if info := jobStatus(t, c, "long"); info.Status != jobs.Running || info.Pid != long.Pid {
		t.Errorf("long after the restart: %+v", info)
	}
	if info := jobStatus(t, c, "gated"); info.Status != jobs.Failed || info.ExitCode != nil || !strings.Contains(info.Message, "exit status is unknown") {
		t.Errorf("gated after the restart: %+v", info)
	}
	if out, err := rayoJob(t, c, "logs", "long"); err != nil || out != "started\n" {
		t.Errorf("long's log after the restart: %v %q", err, out)
	}
	// The restarted head stops a job it did not start.
	if out, err := rayoJob(t, c, "stop", "long"); err != nil || !strings.Contains(out, "Job 'long' STOPPED") {
		t.Fatalf("stop after the restart: %v\n%s", err, out)
	}
	c.WaitFor(t, 10*time.Second, func() bool { return !testcluster.Alive(long.Pid) }, "the stopped job to be gone")
	if !follower.Wait(30 * time.Second) {
		t.Fatalf("the follower did not end with the job; it printed %q", follower.Output())
	}
	if err := follower.ExitErr(); err != nil || follower.Output() != "started\n" {
		t.Fatalf("the follower: %v, printed %q (want the log once)", err, follower.Output())
	}
}

// A head stopped on purpose stops its jobs.
func TestJobStoppedWithTheHead(t *testing.T) {
	c := testcluster.Start(t, testcluster.NodeSpec{CPUs: 0})
	if out, err := rayoJob(t, c, "submit", "--no-wait", "--submission-id", "long", "--", "sleep", "300"); err != nil {
		t.Fatalf("submit: %v\n%s", err, out)
	}
	long := jobStatus(t, c, "long")
	head := c.Head()
	head.Signal(syscall.SIGTERM)
	c.WaitFor(t, time.Minute, head.Exited, "the head to stop on SIGTERM")
	if testcluster.Alive(long.Pid) {
		t.Fatalf("the job (pid %d) outlived its head", long.Pid)
	}
}

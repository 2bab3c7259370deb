package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/rayo-dev/rayo/dashboard"
	"github.com/rayo-dev/rayo/internal/gcs/gcstest"
	"github.com/rayo-dev/rayo/internal/jobs"
)

// The job commands against a real head and HTTP API, in-process.
func TestJobCommands(t *testing.T) {
	const token = "cli-job-token"
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	g := gcstest.Start(t, token)
	dash, err := dashboard.Start(dashboard.Config{Listen: "127.0.0.1:0", Token: token, HeadAddr: g.Addr(), SessionDir: t.TempDir(), Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dash.Stop) // stops the jobs too
	t.Setenv("RAYO_TOKEN", "")
	t.Setenv("RAYO_DASHBOARD_ADDRESS", "")
	rayo := func(sub string, args ...string) (int, string, string) {
		t.Helper()
		var out, errb bytes.Buffer
		all := append([]string{"job", sub, "--address", "http://" + dash.Addr(), "--token", token, "--temp-dir", t.TempDir()}, args...)
		code := Main(all, &out, &errb)
		return code, out.String(), errb.String()
	}

	wd := t.TempDir()
	if err := os.WriteFile(filepath.Join(wd, "run.sh"), []byte("#!/bin/sh\necho \"hello from $(basename $(pwd)) $GREETING\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	code, out, errs := rayo("submit", "--working-dir", wd, "--env", "GREETING=hi", "--submission-id", "ok", "--", "./run.sh")
	if code != 0 || !strings.Contains(out, "hello from working_dir hi\n") || !strings.Contains(out, "Job 'ok' SUCCEEDED") {
		t.Fatalf("submit ok: exit %d\n%s\n%s", code, out, errs)
	}
	code, out, errs = rayo("submit", "--submission-id", "bad", "--", "sh", "-c", "echo failing; exit 4")
	if code == 0 || !strings.Contains(out, "failing") || !strings.Contains(errs, "FAILED") || !strings.Contains(errs, "status 4") {
		t.Fatalf("submit bad: exit %d\n%s\n%s", code, out, errs)
	}
	if code, out, _ := rayo("status", "bad"); code != 0 || !strings.Contains(out, "FAILED") || !strings.Contains(out, "exit_code:     4") {
		t.Fatalf("status bad: %d %s", code, out)
	}
	if code, out, _ := rayo("logs", "ok"); code != 0 || out != "hello from working_dir hi\n" {
		t.Fatalf("logs ok: %d %q", code, out)
	}

	code, out, errs = rayo("submit", "--no-wait", "--submission-id", "long", "--", "sleep", "300")
	if code != 0 || !strings.Contains(out, "rayo job stop long") {
		t.Fatalf("submit --no-wait: %d %s %s", code, out, errs)
	}
	var long jobs.Info
	_, js, _ := rayo("status", "long", "--format", "json")
	if err := json.Unmarshal([]byte(js), &long); err != nil || long.Pid == 0 {
		t.Fatalf("status json: %v %s", err, js)
	}
	t.Cleanup(func() { _ = syscall.Kill(-long.Pid, syscall.SIGKILL) })
	if code, out, errs := rayo("stop", "long"); code != 0 || !strings.Contains(out, "Job 'long' STOPPED") {
		t.Fatalf("stop: %d %s %s", code, out, errs)
	}
	if code, out, _ := rayo("stop", "long"); code != 0 || !strings.Contains(out, "already ended") {
		t.Fatalf("stop again: %d %s", code, out)
	}

	code, out, _ = rayo("list", "--format", "json")
	var list []jobs.Info
	if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil || len(list) != 3 {
		t.Fatalf("list json: %d %v %s", code, err, out)
	}
	if code, out, _ := rayo("list"); code != 0 || !strings.Contains(out, "SUBMISSION_ID") || !strings.Contains(out, "STOPPED") {
		t.Fatalf("list: %d %s", code, out)
	}

	// Refusals, with clear messages.
	if code, _, errs := rayo("status", "nope"); code == 0 || !strings.Contains(errs, "no such job") {
		t.Errorf("status of an unknown job: %d %s", code, errs)
	}
	if code, _, errs := rayo("submit", "--env", "NOVALUE", "--", "true"); code == 0 || !strings.Contains(errs, "KEY=VALUE") {
		t.Errorf("--env without '=': %d %s", code, errs)
	}
	if code, _, errs := rayo("submit", "--submission-id", "ok", "--", "true"); code == 0 || !strings.Contains(errs, "409") {
		t.Errorf("duplicate: %d %s", code, errs)
	}
	escaping := t.TempDir()
	if err := os.Symlink("../../..", filepath.Join(escaping, "up")); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := rayo("submit", "--working-dir", escaping, "--", "true"); code == 0 || !strings.Contains(errs, "leads out") {
		t.Errorf("escaping symlink: %d %s", code, errs)
	}
	var wrong bytes.Buffer
	if code := Main([]string{"job", "list", "--address", dash.Addr(), "--token", "wrong"}, io.Discard, &wrong); code == 0 || !strings.Contains(wrong.String(), "refused the token") {
		t.Errorf("wrong token: %d %s", code, wrong.String())
	}
}

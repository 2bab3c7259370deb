package dashboard

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rayo-dev/rayo/internal/jobs"
)

// submit posts a multipart submission (spec, then the package if any).
func submit(t *testing.T, base, token string, spec any, pkg []byte) (*http.Response, string) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	sw, _ := mw.CreateFormField(PartSpec)
	if s, ok := spec.(string); ok {
		_, _ = io.WriteString(sw, s)
	} else if err := json.NewEncoder(sw).Encode(spec); err != nil {
		t.Fatal(err)
	}
	if pkg != nil {
		pw, _ := mw.CreateFormFile(PartWorkingDir, "working_dir.tar.gz")
		_, _ = pw.Write(pkg)
	}
	_ = mw.Close()
	return post(t, base+"/api/jobs/", token, mw.FormDataContentType(), body.String())
}

func post(t *testing.T, u, token, contentType, body string) (*http.Response, string) {
	t.Helper()
	return send(t, http.MethodPost, u, token, contentType, body)
}

// send sends a request (with the token, unless "") and returns the
// response and its body.
func send(t *testing.T, method, u, token, contentType, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func jobInfo(t *testing.T, base, id string) jobs.Info {
	t.Helper()
	resp, body := get(t, http.DefaultClient, base+"/api/jobs/"+id, testToken)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET job %s: %d %s", id, resp.StatusCode, body)
	}
	var info jobs.Info
	if err := json.Unmarshal([]byte(body), &info); err != nil {
		t.Fatal(err)
	}
	return info
}

// waitJobEnd polls a job's status until it is final.
func waitJobEnd(t *testing.T, base, id string) jobs.Info {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		info := jobInfo(t, base, id)
		if info.Status.Terminal() {
			return info
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still %s after a minute", id, info.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func packFiles(t *testing.T, files map[string]string) []byte {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := jobs.Pack(dir, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestJobSubmitRefusedWithoutTheToken(t *testing.T) {
	s, _ := startHead(t)
	base := "http://" + s.Addr()
	marker := filepath.Join(t.TempDir(), "ran")
	spec := SubmitRequest{Entrypoint: []string{"touch", marker}, SubmissionID: "sneaky"}
	for _, tok := range []string{"", "wrong"} {
		resp, body := submit(t, base, tok, spec, nil)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("token %q: %d %s, want 401", tok, resp.StatusCode, body)
		}
		b, _ := json.Marshal(spec)
		if resp, body := post(t, base+"/api/jobs/", tok, "application/json", string(b)); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("JSON, token %q: %d %s, want 401", tok, resp.StatusCode, body)
		}
		if resp, _ := post(t, base+"/api/jobs/sneaky/stop", tok, "application/json", ""); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("stop, token %q: %d, want 401", tok, resp.StatusCode)
		}
		if resp, _ := get(t, http.DefaultClient, base+"/api/jobs/", tok); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("list, token %q: %d, want 401", tok, resp.StatusCode)
		}
	}
	// Nothing was accepted: no job, no working directory, no process.
	resp, body := get(t, http.DefaultClient, base+"/api/jobs/", testToken)
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(body) != "[]" {
		t.Fatalf("jobs after refused submissions: %d %s", resp.StatusCode, body)
	}
	if ents, _ := os.ReadDir(filepath.Join(s.cfg.SessionDir, "jobs")); len(ents) != 0 {
		t.Fatalf("a refused submission left %d working directories", len(ents))
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Fatalf("the entrypoint ran: %v", err)
	}
}

func TestJobLifecycleOverHTTP(t *testing.T) {
	s, _ := startHead(t)
	base := "http://" + s.Addr()
	pkg := packFiles(t, map[string]string{"run.sh": "#!/bin/sh\necho \"hello $WHO\"\necho \"head at $RAYO_ADDRESS\"\n"})
	resp, body := submit(t, base, testToken, SubmitRequest{Entrypoint: []string{"./run.sh"}, SubmissionID: "hello-1",
		EnvVars: map[string]string{"WHO": "world"}}, pkg)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("submit: %d %s", resp.StatusCode, body)
	}
	info := waitJobEnd(t, base, "hello-1")
	if info.Status != jobs.Succeeded || info.ExitCode == nil || *info.ExitCode != 0 || info.StartTime == 0 || info.EndTime == 0 {
		t.Fatalf("job: %+v", info)
	}
	wantLog := "hello world\nhead at " + s.cfg.HeadAddr + "\n"
	if resp, body := get(t, http.DefaultClient, base+"/api/jobs/hello-1/logs", testToken); resp.StatusCode != http.StatusOK || body != wantLog {
		t.Fatalf("logs: %d %q, want %q", resp.StatusCode, body, wantLog)
	}
	if resp, body := get(t, http.DefaultClient, base+"/api/jobs/hello-1/logs?follow=1", testToken); resp.StatusCode != http.StatusOK || body != wantLog {
		t.Fatalf("followed logs of an ended job: %d %q", resp.StatusCode, body)
	}

	// Duplicate, malformed, unknown.
	if resp, body := submit(t, base, testToken, SubmitRequest{Entrypoint: []string{"true"}, SubmissionID: "hello-1"}, nil); resp.StatusCode != http.StatusConflict {
		t.Errorf("duplicate: %d %s, want 409", resp.StatusCode, body)
	}
	for name, spec := range map[string]string{
		"not JSON":             "{",
		"entrypoint string":    `{"entrypoint": "echo hi"}`,
		"empty entrypoint":     `{"entrypoint": []}`,
		"bad submission id":    `{"entrypoint": ["true"], "submission_id": "../../etc"}`,
		"unknown field":        `{"entrypoint": ["true"], "runtime_env": {}}`,
		"bad env var name":     `{"entrypoint": ["true"], "env_vars": {"A B": "x"}}`,
		"RAYO_TOKEN overwrite": `{"entrypoint": ["true"], "env_vars": {"RAYO_TOKEN": "x"}}`,
	} {
		if resp, body := post(t, base+"/api/jobs/", testToken, "application/json", spec); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", name, resp.StatusCode, body)
		}
	}
	if resp, body := post(t, base+"/api/jobs/", testToken, "text/plain", "echo"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("text/plain: %d %s, want 400", resp.StatusCode, body)
	}
	evil := evilPackage(t)
	if resp, body := submit(t, base, testToken, SubmitRequest{Entrypoint: []string{"true"}, SubmissionID: "evil"}, evil); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "unsafe") {
		t.Errorf("traversal package: %d %s, want 400", resp.StatusCode, body)
	}
	huge := oneEntry(t, "huge", jobs.MaxPackageSize+1)
	if resp, body := submit(t, base, testToken, SubmitRequest{Entrypoint: []string{"true"}}, huge); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("a package over the limit: %d %s, want 413", resp.StatusCode, body)
	}
	if resp, body := submit(t, base, testToken, SubmitRequest{Entrypoint: []string{"true"}}, []byte("not a tarball")); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("garbage package: %d %s, want 400", resp.StatusCode, body)
	}
	for _, u := range []string{"/api/jobs/nope", "/api/jobs/nope/logs", "/api/jobs/nope/logs?follow=1"} {
		if resp, _ := get(t, http.DefaultClient, base+u, testToken); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", u, resp.StatusCode)
		}
	}
	if resp, _ := post(t, base+"/api/jobs/nope/stop", testToken, "application/json", ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("stop unknown: %d, want 404", resp.StatusCode)
	}

	// A failing job: FAILED with its exit code.
	if resp, body := post(t, base+"/api/jobs", testToken, "application/json", `{"entrypoint": ["sh", "-c", "exit 7"], "submission_id": "fails"}`); resp.StatusCode != http.StatusOK {
		t.Fatalf("submit fails: %d %s", resp.StatusCode, body)
	}
	if info := waitJobEnd(t, base, "fails"); info.Status != jobs.Failed || info.ExitCode == nil || *info.ExitCode != 7 {
		t.Fatalf("failing job: %+v", info)
	}

	// A long job, followed, then stopped: the follow ends with the job.
	if resp, body := post(t, base+"/api/jobs/", testToken, "application/json", `{"entrypoint": ["sh", "-c", "echo started; exec sleep 300"], "submission_id": "long"}`); resp.StatusCode != http.StatusOK {
		t.Fatalf("submit long: %d %s", resp.StatusCode, body)
	}
	long := jobInfo(t, base, "long")
	t.Cleanup(func() { _ = syscall.Kill(-long.Pid, syscall.SIGKILL) })
	req, _ := http.NewRequest(http.MethodGet, base+"/api/jobs/long/logs?follow=1", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	fresp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer fresp.Body.Close()
	line := make([]byte, len("started\n"))
	if _, err := io.ReadFull(fresp.Body, line); err != nil || string(line) != "started\n" {
		t.Fatalf("follow: %q, %v", line, err)
	}
	if resp, body := post(t, base+"/api/jobs/long/stop", testToken, "application/json", ""); resp.StatusCode != http.StatusOK || !strings.Contains(body, `"stopped": true`) {
		t.Fatalf("stop: %d %s", resp.StatusCode, body)
	}
	if rest, err := io.ReadAll(fresp.Body); err != nil || len(rest) != 0 {
		t.Fatalf("the follow after the stop: %q, %v", rest, err)
	}
	if info := waitJobEnd(t, base, "long"); info.Status != jobs.Stopped {
		t.Fatalf("stopped job: %+v", info)
	}

	resp, body = get(t, http.DefaultClient, base+"/api/jobs/", testToken)
	var list []jobs.Info
	if err := json.Unmarshal([]byte(body), &list); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("list: %d %s", resp.StatusCode, body)
	}
	var ids []string
	for _, j := range list {
		ids = append(ids, j.SubmissionID+"="+string(j.Status))
	}
	if got := strings.Join(ids, " "); got != "hello-1=SUCCEEDED fails=FAILED long=STOPPED" {
		t.Fatalf("list: %s", got)
	}
}

// evilPackage holds an entry that climbs out of the working directory.
func evilPackage(t *testing.T) []byte { return oneEntry(t, "../../evil", 1) }

// oneEntry is a package of one file entry whose header says size bytes;
// it holds at most one byte of them.
func oneEntry(t *testing.T, name string, size int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	_ = tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: size})
	_, _ = tw.Write([]byte("x"))
	_ = tw.Close() // fails for a header that promised more: the bytes are not needed
	_ = gz.Close()
	return buf.Bytes()
}

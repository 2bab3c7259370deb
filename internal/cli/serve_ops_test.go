package cli

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestServeRunPassesTheTargetAndExitStatus(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "app.yaml")
	if err := os.WriteFile(cfg, []byte("applications: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	var out, errb bytes.Buffer
	code := Main([]string{"serve", "run", "app.yaml", "--", "/bin/sh", "-c", `echo "$RAYO_SERVE_RUN"; exit 3`}, &out, &errb)
	if code != 3 || strings.TrimSpace(out.String()) != cfg || errb.Len() != 0 {
		t.Fatalf("exit %d, out %q (want %s), err %q", code, out.String(), cfg, errb.String())
	}
	out.Reset()
	if code := Main([]string{"serve", "run", "app:build", "--", "/bin/sh", "-c", `echo "$RAYO_SERVE_RUN"`}, &out, &errb); code != 0 || strings.TrimSpace(out.String()) != "app:build" {
		t.Fatalf("builder target: exit %d, out %q", code, out.String())
	}
}

func TestServeRunUsage(t *testing.T) {
	for _, args := range [][]string{{"serve", "run", "app.yaml"}, {"serve", "run", "--", "/bin/true"}, {"serve", "run", "a", "b", "--", "/bin/true"}} {
		var out, errb bytes.Buffer
		if code := Main(args, &out, &errb); code == 0 || !strings.Contains(errb.String(), "usage: rayo serve run") {
			t.Errorf("%v: exit %d, %q", args, code, errb.String())
		}
	}
}

func TestServeShutdownAsksFirst(t *testing.T) {
	root := newRoot(&bytes.Buffer{}, &bytes.Buffer{})
	root.SetIn(strings.NewReader("n\n"))
	root.SetArgs([]string{"serve", "shutdown", "--temp-dir", t.TempDir()})
	if err := root.Execute(); err == nil || !strings.Contains(err.Error(), "not confirmed") {
		t.Fatalf("answered no: %v", err)
	}
}

// 202 Accepted: the controller is still at work; the commands say so
// and succeed.
func TestServeOpsAcceptedIsNoFailure(t *testing.T) {
	const msg = "The Serve controller is still working on the request after 30s; `rayo serve status` shows its progress."
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" || r.URL.Path != "/api/serve/applications/" {
			http.Error(w, "unexpected", http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"ok": false, "running": true, "pending": true, "message": "` + msg + `"}`))
	}))
	t.Cleanup(api.Close)
	cfg := filepath.Join(t.TempDir(), "app.yaml")
	if err := os.WriteFile(cfg, []byte("applications: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"serve", "deploy", cfg}, {"serve", "shutdown", "--yes"}} {
		var out, errb bytes.Buffer
		code := Main(append(args, "--address", api.URL, "--token", "tok"), &out, &errb)
		if code != 0 || strings.TrimSpace(out.String()) != msg {
			t.Errorf("%v: exit %d, out %q, err %q", args, code, out.String(), errb.String())
		}
	}
}

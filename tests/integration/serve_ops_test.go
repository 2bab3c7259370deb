package integration_test

// Serve's operations commands on a real cluster, through the rayo
// binary: `rayo serve deploy|config|shutdown` (the CLI, the dashboard,
// the controller through the key-value store), and `rayo serve run` of a
// program that calls serve.Main.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/internal/testcluster"
	sv "github.com/rayo-dev/rayo/serve"
)

// The builder `rayo serve deploy` names; the controller runs this test
// binary (the driver started Serve), so it has it.
func init() {
	sv.RegisterBuilder("itest:where", func(map[string]any) (*sv.Application, error) { return svWhereDep.Bind(), nil })
}

const svOpsConfig = `http_options: {port: 0}
applications:
  - name: ops
    route_prefix: /ops
    import_path: itest:where
    deployments:
      - {name: itest.serve.where, ray_actor_options: {num_cpus: 0.5}}
`

func TestServeDeployConfigShutdownThroughCLI(t *testing.T) {
	c := testcluster.Start(t, testcluster.NodeSpec{CPUs: 2})
	connect(t, c)
	addr := svStart(t)
	client := svHTTP(t, 10*time.Second)
	dir := t.TempDir()
	good := filepath.Join(dir, "serve.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(good, []byte(svOpsConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(strings.Replace(svOpsConfig, "import_path", "import_pth", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := c.Rayo(t, "serve", "deploy", good, "--temp-dir", c.TempDir())
	if err != nil || !strings.Contains(out, "accepted") {
		t.Fatalf("rayo serve deploy: %v\n%s", err, out)
	}
	c.WaitFor(t, time.Minute, func() bool {
		code, _, err := svGet(client, "http://"+addr+"/ops")
		return err == nil && code == 200
	}, "the deployed application to answer")
	if out, err := c.Rayo(t, "serve", "config", "--temp-dir", c.TempDir()); err != nil || out != svOpsConfig {
		t.Fatalf("rayo serve config: %v\n%q", err, out)
	}

	out, err = c.Rayo(t, "serve", "deploy", bad, "--temp-dir", c.TempDir())
	if err == nil || !strings.Contains(out, "import_pth") || !strings.Contains(out, "HTTP 400") {
		t.Fatalf("a malformed config: %v\n%s", err, out)
	}
	if out, err := c.Rayo(t, "serve", "config", "--temp-dir", c.TempDir()); err != nil || out != svOpsConfig {
		t.Fatalf("the malformed config changed the kept one: %v\n%q", err, out)
	}
	if code, _, err := svGet(client, "http://"+addr+"/ops"); err != nil || code != 200 {
		t.Fatalf("after the malformed config: %d %v", code, err)
	}

	out, err = c.Rayo(t, "serve", "shutdown", "--yes", "--temp-dir", c.TempDir())
	if err != nil || !strings.Contains(out, "shut down") {
		t.Fatalf("rayo serve shutdown: %v\n%s", err, out)
	}
	c.WaitFor(t, 30*time.Second, func() bool {
		return len(svActors(t, c, svControllerName)) == 0 && len(svActors(t, c, svReplicaPrefix)) == 0 && len(svActors(t, c, svProxyPrefix)) == 0
	}, "the controller, replicas and proxies to be gone")
	if out, err := c.Rayo(t, "serve", "config", "--temp-dir", c.TempDir()); err == nil || !strings.Contains(out, "404") {
		t.Fatalf("rayo serve config after the shutdown: %v\n%s", err, out)
	}
	// Requests, their claims and answers do not pile up.
	if keys, err := rayo.KVList(context.Background(), "serve/", rayo.KVNamespace("rayo.serve")); err != nil || len(keys) != 0 {
		t.Fatalf("Serve's keys left after the shutdown: %v %v", keys, err)
	}
}

var svRunningAt = regexp.MustCompile(`is running at (http://\S+)`)

// `rayo serve run` runs a program calling serve.Main on the embedded
// cluster it starts; SIGINT to rayo alone reaches it, and it shuts down
// cleanly, leaving no process behind.
func TestServeRunThroughCLI(t *testing.T) {
	rayoBin := testcluster.BuildRayo(t)
	prog := testcluster.BuildProgram(t, "./tests/integration/testdata/serverun")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "hello.yaml")
	file := "http_options: {port: 0}\napplications:\n  - name: hello\n    route_prefix: /hi\n    import_path: serverun:hello\n    args: {greeting: bonjour}\n"
	if err := os.WriteFile(cfg, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	p := testcluster.Spawn(t, testcluster.Command{Name: "rayo serve run", Path: rayoBin, Dir: dir, Args: []string{"serve", "run", "hello.yaml", "--", prog}})
	var url string
	testcluster.WaitFor(t, 2*time.Minute, func() bool {
		m := svRunningAt.FindStringSubmatch(p.Output())
		if m != nil {
			url = m[1]
		}
		return m != nil || p.Exited()
	}, "rayo serve run to print the proxy's address")
	if url == "" {
		t.Fatalf("rayo serve run exited: %v\n%s", p.ExitErr(), p.Output())
	}
	client := svHTTP(t, 10*time.Second)
	if code, body, err := svGet(client, url+"/hi"); err != nil || code != 200 || body != "bonjour" {
		t.Fatalf("GET %s/hi: %d %q %v", url, code, body, err)
	}
	if err := syscall.Kill(p.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if !p.Wait(time.Minute) {
		t.Fatalf("rayo serve run did not exit after SIGINT:\n%s", p.Output())
	}
	if err := p.ExitErr(); err != nil {
		t.Fatalf("rayo serve run: %v\n%s", err, p.Output())
	}
	testcluster.WaitFor(t, 30*time.Second, func() bool { return len(testcluster.MarkedPids(p.Marker)) == 0 },
		fmt.Sprintf("every process of rayo serve run to exit (left: %v)", testcluster.MarkedPids(p.Marker)))
}

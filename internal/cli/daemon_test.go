package cli

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rayo-dev/rayo/internal/session"
)

// asRayo makes this test binary the rayo command in the processes the
// tests start (and the daemons those start in turn: the variable is
// inherited), so that `rayo start` runs real daemons without a build.
const asRayo = "RAYO_CLI_TEST_AS_RAYO"

func TestMain(m *testing.M) {
	if os.Getenv(asRayo) == "1" {
		os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr))
	}
	// Daemons that tests run in this process (--block) must leave no
	// goroutine behind.
	goleak.VerifyTestMain(m)
}

// small keeps a test daemon's footprint small.
var small = []string{"--num-cpus", "1", "--num-gpus", "0", "--memory", "1000000000", "--object-store-memory", "67108864"}

var pidRe = regexp.MustCompile(`pid (\d+)\)`)

// rayoCLI runs `rayo args...` in this process, with os.Args as the real
// command has them, and returns its stdout and stderr.
func rayoCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Args
	os.Args = append([]string{exe}, args...)
	defer func() { os.Args = saved }()
	var out, errb bytes.Buffer
	if code := Main(args, &out, &errb); code != 0 {
		return out.String(), errb.String(), errors.New(strings.TrimSpace(errb.String()))
	}
	return out.String(), errb.String(), nil
}

// daemonEnvForTest sets the environment of a test that starts daemons,
// and stops every daemon under the temp dirs when the test ends.
func daemonEnvForTest(t *testing.T, tempDirs ...string) {
	t.Helper()
	t.Setenv(asRayo, "1")
	t.Setenv("RAYO_TOKEN", "")
	t.Setenv("RAYO_ADDRESS", "")
	t.Cleanup(func() {
		for _, d := range tempDirs {
			if _, err := stopAll(d, 10*time.Second, io.Discard); err != nil {
				t.Errorf("stopping the daemons under %s: %v", d, err)
			}
		}
	})
}

// startNode starts a node in the background (rayo start with args, and
// small) and returns the pid it printed, and its stderr.
func startNode(t *testing.T, args ...string) (int, string) {
	t.Helper()
	out, errs, err := rayoCLI(t, append(append([]string{"start"}, args...), small...)...)
	if err != nil {
		t.Fatalf("rayo start --address: %v\n%s%s", err, out, errs)
	}
	m := pidRe.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("rayo start printed no pid: %q", out)
	}
	pid, _ := strconv.Atoi(m[1])
	return pid, errs
}

// startHead starts a head (and its node) in the background under tempDir
// and returns its session, address and token.
func startHead(t *testing.T, tempDir string, extra ...string) (*session.Dir, string, string) {
	t.Helper()
	args := append([]string{"start", "--head", "--port", "0", "--dashboard-port", "0", "--temp-dir", tempDir}, small...)
	if out, errs, err := rayoCLI(t, append(args, extra...)...); err != nil {
		t.Fatalf("rayo start --head: %v\n%s%s", err, out, errs)
	}
	sess, err := session.Latest(tempDir)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := sess.ReadAddress()
	if err != nil {
		t.Fatal(err)
	}
	token, err := sess.ReadToken()
	if err != nil {
		t.Fatal(err)
	}
	return sess, addr, token
}

func cmdline(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		t.Fatalf("reading the command line of pid %d: %v", pid, err)
	}
	return strings.ReplaceAll(string(b), "\x00", " ")
}

// `rayo start --address A --token T` once re-ran itself as the daemon with
// --token T in its arguments, which every local user reads with ps for
// the daemon's life. The daemon gets it in its environment instead, also
// when --token was given to a daemon in the foreground (--block).
func TestStartKeepsTokenOffTheCommandLine(t *testing.T) {
	root := t.TempDir()
	headDir, nodeDir, blockDir := filepath.Join(root, "head"), filepath.Join(root, "node"), filepath.Join(root, "block")
	daemonEnvForTest(t, headDir, nodeDir, blockDir)
	sess, addr, token := startHead(t, headDir)

	// In the background, the way an operator joins a node.
	pid, errs := startNode(t, "--address", addr, "--token", token, "--temp-dir", nodeDir)
	if cl := cmdline(t, pid); strings.Contains(cl, token) {
		t.Errorf("the node daemon's command line holds the token: %s", cl)
	}
	if !strings.Contains(errs, "RAYO_TOKEN") {
		t.Errorf("no warning that --token is visible in ps: stderr %q", errs)
	}
	// Nor does any daemon the head started.
	procs, err := sess.Procs()
	if err != nil || len(procs) != 2 {
		t.Fatalf("the head's session records %v (%v), want the head and its node", procs, err)
	}
	for name, p := range procs {
		if cl := cmdline(t, p.Pid); strings.Contains(cl, token) {
			t.Errorf("%s's command line holds the token: %s", name, cl)
		}
	}

	// In the foreground: the process re-executes itself (same pid)
	// without the token on its command line.
	exe, _ := os.Executable()
	c := exec.Command(exe, append([]string{"start", "--block", "--address", addr, "--token", token, "--temp-dir", blockDir}, small...)...)
	c.Env = os.Environ()
	stdout, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	running, drained := make(chan string, 1), make(chan struct{})
	go func() {
		defer close(drained)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "running at") {
				running <- sc.Text()
				break
			}
		}
		close(running)
		_, _ = io.Copy(io.Discard, stdout) // until the daemon exits
	}()
	t.Cleanup(func() {
		_ = c.Process.Signal(syscall.SIGTERM)
		select {
		case <-drained:
		case <-time.After(15 * time.Second):
			_ = c.Process.Kill()
			<-drained
		}
		_ = c.Wait()
	})
	select {
	case line, ok := <-running:
		if !ok {
			t.Fatal("rayo start --block exited before it was running")
		}
		t.Logf("%s", line)
	case <-time.After(time.Minute):
		t.Fatal("rayo start --block did not report running within a minute")
	}
	if cl := cmdline(t, c.Process.Pid); strings.Contains(cl, token) || !strings.Contains(cl, "--block") {
		t.Errorf("the --block daemon's command line: %s", cl)
	}
}

// --token-file reads the token from a file, so that no command line
// holds it.
func TestTokenFile(t *testing.T) {
	root := t.TempDir()
	headDir := filepath.Join(root, "head")
	daemonEnvForTest(t, headDir)
	_, addr, token := startHead(t, headDir)
	good, bad := filepath.Join(root, "token"), filepath.Join(root, "wrong")
	if err := os.WriteFile(good, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	other := t.TempDir() // no session there: the token must come from the file
	if out, errs, err := rayoCLI(t, "status", "--address", addr, "--token-file", good, "--temp-dir", other); err != nil || !strings.Contains(out, "node(s) alive") {
		t.Errorf("status with --token-file: %v\n%s%s", err, out, errs)
	}
	if _, _, err := rayoCLI(t, "status", "--address", addr, "--token-file", bad, "--temp-dir", other); err == nil {
		t.Error("status with a wrong token file succeeded")
	}
	if _, _, err := rayoCLI(t, "status", "--address", addr, "--token-file", good, "--token", token); err == nil {
		t.Error("status with both --token and --token-file succeeded")
	}
	if _, _, err := rayoCLI(t, "status", "--address", addr, "--token-file", filepath.Join(root, "missing")); err == nil {
		t.Error("status with a missing token file succeeded")
	}
}

// A pid file whose daemon died while the kernel gave its pid to another
// process once made `rayo stop` kill an unrelated `python3 ... start`:
// stop signals only a process that is the recorded rayo daemon of that
// session, and still stops the real ones.
func TestStopSparesProcessesThatReusedAPid(t *testing.T) {
	root := t.TempDir()
	headDir, nodeDir := filepath.Join(root, "head"), filepath.Join(root, "node")
	daemonEnvForTest(t, headDir, nodeDir)
	sess, addr, token := startHead(t, headDir)
	t.Setenv("RAYO_TOKEN", token)
	// A rayo daemon of another session (another temp dir).
	foreignPid, _ := startNode(t, "--address", addr, "--temp-dir", nodeDir)
	foreign, err := session.Identify(foreignPid)
	if err != nil {
		t.Fatal(err)
	}

	// An unrelated process with "start" among its arguments (the shell
	// stays: the command after sleep keeps it from exec'ing sleep).
	victim := exec.Command("/bin/sh", "-c", "sleep 60; :", "start")
	victim.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-victim.Process.Pid, syscall.SIGKILL); _ = victim.Wait() })
	vp, err := session.Identify(victim.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	exe, _ := os.Executable()
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(sess.PidsDir(), name+".pid"), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// An older rayo's pid file: the bare pid.
	write("node-old", strconv.Itoa(vp.Pid)+"\n")
	// A daemon that ran our binary and died; its pid now names the victim.
	write("node-dead", strconv.Itoa(vp.Pid)+"\nstart="+strconv.FormatUint(vp.Start-1, 10)+"\nboot="+vp.Boot+"\nexe="+exe+"\n")
	// A live rayo daemon recorded exactly, but of another session.
	write("node-foreign", strconv.Itoa(foreign.Pid)+"\nstart="+strconv.FormatUint(foreign.Start, 10)+"\nboot="+foreign.Boot+"\nexe="+foreign.Exe+"\n")

	before, err := sess.Procs()
	if err != nil {
		t.Fatal(err)
	}
	out, errs, err := rayoCLI(t, "stop", "--temp-dir", headDir)
	if err != nil {
		t.Fatalf("rayo stop: %v\n%s%s", err, out, errs)
	}
	if !strings.Contains(out, "stopped 2 ") {
		t.Errorf("rayo stop: %q, want the head and its node stopped", out)
	}
	if !vp.Running() {
		t.Error("rayo stop killed an unrelated process that reused a daemon's pid")
	}
	if !foreign.Running() {
		t.Error("rayo stop killed a rayo daemon of another session")
	}
	for name, p := range before {
		if strings.HasPrefix(name, "node-old") || strings.HasPrefix(name, "node-dead") || strings.HasPrefix(name, "node-foreign") {
			continue
		}
		if p.Running() {
			t.Errorf("daemon %s (pid %d) still runs after rayo stop", name, p.Pid)
		}
	}
	if left, _ := sess.Pids(); len(left) != 0 {
		t.Errorf("pid files left after stop: %v", left)
	}
}

// rayo start removes old session directories beyond --keep-sessions,
// never the current one nor one whose daemon still runs.
func TestStartPrunesOldSessions(t *testing.T) {
	headDir := filepath.Join(t.TempDir(), "head")
	daemonEnvForTest(t, headDir)
	if err := os.Mkdir(headDir, 0o700); err != nil {
		t.Fatal(err)
	}
	var old []string
	for i := range 6 {
		p := filepath.Join(headDir, "session_2020-01-0"+strconv.Itoa(i+1)+"_00-00-00_000000_1")
		for _, sub := range []string{"logs", "pids"} {
			if err := os.MkdirAll(filepath.Join(p, sub), 0o700); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(p, "logs", "head.log"), bytes.Repeat([]byte("x"), 1<<16), 0o600); err != nil {
			t.Fatal(err)
		}
		old = append(old, p)
	}
	// The oldest still has a live daemon (this process stands for it).
	live, err := session.Open(old[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := live.WritePid("node-x", os.Getpid()); err != nil {
		t.Fatal(err)
	}
	sess, _, _ := startHead(t, headDir, "--keep-sessions", "3")
	all, err := session.AllSessions(headDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range all {
		names = append(names, filepath.Base(d.Path))
	}
	// Kept: the live one, the newest three (two old ones and the current).
	want := []string{filepath.Base(old[0]), filepath.Base(old[4]), filepath.Base(old[5]), filepath.Base(sess.Path)}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("sessions after start: %v, want %v", names, want)
	}
}

// The daemon's command line carries every flag given, as parsed, except
// the token and --token-file.
func TestDaemonArgsRoundTrip(t *testing.T) {
	in := []string{"--address", "10.0.0.1:6379", "--token", "s3cret-token", "--num-cpus", "2.5", "--labels", "a=b,c=d",
		"--resources", `{"special": 1}`, "--head-recovery-grace", "1m30s", "--block", "--keep-sessions", "2"}
	cmd := newStart()
	if err := cmd.ParseFlags(in); err != nil {
		t.Fatal(err)
	}
	args := daemonArgs(cmd)
	if strings.Contains(strings.Join(args, " "), "s3cret-token") || args[0] != "start" {
		t.Fatalf("daemon args: %q", args)
	}
	again := newStart()
	if err := again.ParseFlags(args[1:]); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"address", "num-cpus", "labels", "resources", "head-recovery-grace", "block", "keep-sessions"} {
		if a, b := cmd.Flags().Lookup(name).Value.String(), again.Flags().Lookup(name).Value.String(); a != b {
			t.Errorf("--%s: %q became %q", name, a, b)
		}
	}
	if again.Flags().Changed(tokenFlag) {
		t.Error("the daemon's command line sets --token")
	}
	// Repeated (slice) flags keep every value.
	if f := cmd.Flags().Lookup("dashboard-allowed-host"); f != nil {
		cmd, again = newStart(), newStart()
		if err := cmd.ParseFlags([]string{"--dashboard-allowed-host", "a.example", "--dashboard-allowed-host", "b.example:80"}); err != nil {
			t.Fatal(err)
		}
		if err := again.ParseFlags(daemonArgs(cmd)[1:]); err != nil {
			t.Fatal(err)
		}
		if a, b := cmd.Flags().Lookup(f.Name).Value.String(), again.Flags().Lookup(f.Name).Value.String(); a != b {
			t.Errorf("--%s: %q became %q", f.Name, a, b)
		}
	}
}

// copyFile copies the executable src to dst (mode 0755), by a temporary
// file renamed into place, as an install replaces a binary.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	tmp := dst + ".new"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
}

// After an upgrade, the pid files of the daemons the previous rayo
// started hold only a pid, and /proc/<pid>/exe names a file that the
// install replaced ("<path> (deleted)"): `rayo stop` once took those
// daemons for processes that reused the pids, deleted their pid files
// and left them running with nothing recording them. It stops them; and
// a pid file whose process holds the session's files but runs something
// not known for rayo is left, with a note, never signalled nor deleted.
func TestStopAfterTheBinaryWasReplaced(t *testing.T) {
	root := t.TempDir()
	headDir := filepath.Join(root, "head")
	daemonEnvForTest(t, headDir)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(root, "bin", "rayo") // the installed rayo of before the upgrade
	if err := os.Mkdir(filepath.Dir(old), 0o700); err != nil {
		t.Fatal(err)
	}
	copyFile(t, self, old)
	start := exec.Command(old, append([]string{"start", "--head", "--port", "0", "--dashboard-port", "0", "--temp-dir", headDir}, small...)...)
	start.Env = os.Environ() // with asRayo: the copy runs as rayo
	if out, err := start.CombinedOutput(); err != nil {
		t.Fatalf("%s start --head: %v\n%s", old, err, out)
	}
	sess, err := session.Latest(headDir)
	if err != nil {
		t.Fatal(err)
	}
	procs, err := sess.Procs()
	if err != nil || len(procs) != 2 {
		t.Fatalf("the session records %v (%v), want the head and its node", procs, err)
	}
	// Whatever happens, the daemons do not outlive the test.
	t.Cleanup(func() {
		for _, p := range procs {
			if p.Running() {
				_ = syscall.Kill(p.Pid, syscall.SIGKILL)
			}
		}
	})
	for name, p := range procs {
		if p.Exe != old {
			t.Fatalf("%s runs %s, want %s", name, p.Exe, old)
		}
		// The previous rayo's pid file: the bare pid.
		if err := os.WriteFile(filepath.Join(sess.PidsDir(), name+".pid"), []byte(strconv.Itoa(p.Pid)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// The upgrade: a new binary at the path.
	copyFile(t, self, old)
	for name, p := range procs {
		if l, err := os.Readlink("/proc/" + strconv.Itoa(p.Pid) + "/exe"); err != nil || !strings.HasSuffix(l, " (deleted)") {
			t.Fatalf("%s's executable: %q (%v), want a replaced file", name, l, err)
		}
	}

	// A process that holds a file of the session open but runs no rayo.
	logf, err := sess.LogFile("other")
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	other := exec.Command("sleep", "300")
	other.ExtraFiles = []*os.File{logf}
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Process.Kill(); _ = other.Wait() })
	otherPid := filepath.Join(sess.PidsDir(), "node-other.pid")
	if err := os.WriteFile(otherPid, []byte(strconv.Itoa(other.Process.Pid)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	op, err := session.Identify(other.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}

	out, errs, err := rayoCLI(t, "stop", "--temp-dir", headDir)
	if err != nil {
		t.Fatalf("rayo stop: %v\n%s%s", err, out, errs)
	}
	if !strings.Contains(out, "stopped 2 ") {
		t.Errorf("rayo stop: %q, want the head and its node stopped", out)
	}
	for name, p := range procs {
		if p.Running() {
			t.Errorf("daemon %s (pid %d), of a replaced binary, still runs after rayo stop", name, p.Pid)
		}
		if _, err := os.Stat(filepath.Join(sess.PidsDir(), name+".pid")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the pid file of %s is still there after its daemon stopped (%v)", name, err)
		}
	}
	if !op.Running() {
		t.Error("rayo stop killed a process that runs no rayo")
	}
	if _, err := os.Stat(otherPid); err != nil {
		t.Errorf("rayo stop deleted the pid file of a live process of the session: %v", err)
	}
	if !strings.Contains(errs, "node-other.pid") || !strings.Contains(errs, strconv.Itoa(other.Process.Pid)) {
		t.Errorf("rayo stop did not say it left node-other.pid: stderr %q", errs)
	}
}

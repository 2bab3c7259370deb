package session

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// Everything a session holds is private to the cluster's user whatever
// the umask: a umask of 0 once left logs and job files readable (and
// writable) by every local user.
func TestSessionFilesArePrivate(t *testing.T) {
	old := syscall.Umask(0)
	t.Cleanup(func() { syscall.Umask(old) })
	tmp := filepath.Join(t.TempDir(), "rayo")
	d := mustCreate(t, tmp)
	if err := d.WriteToken("t0ken"); err != nil {
		t.Fatal(err)
	}
	if err := d.WriteAddress("127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
	if err := d.WriteDashboardAddress("127.0.0.1:2"); err != nil {
		t.Fatal(err)
	}
	if err := d.WritePid("head", os.Getpid()); err != nil {
		t.Fatal(err)
	}
	// A log file an older rayo left readable by all is narrowed on open.
	if err := os.WriteFile(filepath.Join(d.LogsDir(), "node-x.log"), []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"head", "node-x"} {
		f, err := d.LogFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	want := map[string]os.FileMode{
		tmp: 0o700, d.Path: 0o700, d.LogsDir(): 0o700, d.PidsDir(): 0o700, d.BinariesDir(): 0o700,
		filepath.Join(d.Path, "token"): 0o600, filepath.Join(d.Path, "address"): 0o600,
		filepath.Join(d.Path, "dashboard_address"): 0o600, filepath.Join(d.PidsDir(), "head.pid"): 0o600,
		filepath.Join(d.LogsDir(), "head.log"): 0o600, filepath.Join(d.LogsDir(), "node-x.log"): 0o600,
	}
	for p, mode := range want {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != mode {
			t.Errorf("%s has mode %#o, want %#o", p, got, mode)
		}
	}
}

// A temp dir other users may write to lets them swap session_latest (and
// so the address and token every CLI command and driver uses): refused.
func TestTempDirOthersCanWriteIsRefused(t *testing.T) {
	tmp := filepath.Join(t.TempDir(), "rayo")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	d := mustCreate(t, tmp)
	if err := d.WriteAddress("127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tmp, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := Create(tmp); !errors.Is(err, ErrUnsafeDir) {
		t.Errorf("Create in a mode-0777 temp dir: %v, want ErrUnsafeDir", err)
	}
	if _, err := Latest(tmp); !errors.Is(err, ErrUnsafeDir) {
		t.Errorf("Latest in a mode-0777 temp dir: %v, want ErrUnsafeDir", err)
	}
	if _, _, err := Resolve(tmp, "", "tok"); !errors.Is(err, ErrUnsafeDir) {
		t.Errorf("Resolve in a mode-0777 temp dir: %v, want ErrUnsafeDir", err)
	}
	if _, err := AllSessions(tmp); !errors.Is(err, ErrUnsafeDir) {
		t.Errorf("AllSessions in a mode-0777 temp dir: %v, want ErrUnsafeDir", err)
	}
	// A link of ours to a private directory is fine.
	if err := os.Chmod(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(tmp, link); err != nil {
		t.Fatal(err)
	}
	if _, err := Latest(link); err != nil {
		t.Errorf("Latest through a link of ours: %v", err)
	}
	if os.Geteuid() == 0 {
		// Root can give the directory away: another user's is refused.
		if err := os.Chown(tmp, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		if _, err := Latest(tmp); !errors.Is(err, ErrUnsafeDir) {
			t.Errorf("Latest in another user's temp dir: %v, want ErrUnsafeDir", err)
		}
	}
}

func TestPidFileRecordsIdentity(t *testing.T) {
	d := mustCreate(t, t.TempDir())
	if err := d.WritePid("head", os.Getpid()); err != nil {
		t.Fatal(err)
	}
	procs, err := d.Procs()
	if err != nil {
		t.Fatal(err)
	}
	p := procs["head"]
	self, err := Identify(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	exe, _ := os.Executable()
	if p != self || p.Start == 0 || p.Boot == "" || p.Exe != exe {
		t.Fatalf("recorded %+v; /proc says %+v (exe %s)", p, self, exe)
	}
	if !p.Running() {
		t.Error("the recorded process (this one) does not count as running")
	}
	// The same pid started at another time is another process.
	reused := p
	reused.Start++
	if reused.Running() || reused.Same(self) {
		t.Error("a record with another start time matched this process")
	}
	otherBoot := p
	otherBoot.Boot = "another-boot"
	if otherBoot.Same(self) {
		t.Error("a record of another boot matched this process")
	}
	// A bare pid (older rayo) still parses, with nothing known but the pid.
	if err := os.WriteFile(filepath.Join(d.PidsDir(), "old.pid"), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	procs, _ = d.Procs()
	if old := procs["old"]; old != (Proc{Pid: os.Getpid()}) || !old.Running() {
		t.Errorf("bare pid file: %+v", old)
	}
}

func TestHeldBy(t *testing.T) {
	tmp := t.TempDir()
	d1, d2 := mustCreate(t, tmp), mustCreate(t, tmp)
	f, err := d1.LogFile("head")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !d1.HeldBy(os.Getpid()) {
		t.Error("a session whose log this process holds open is not HeldBy it")
	}
	if d2.HeldBy(os.Getpid()) {
		t.Error("a session this process holds nothing of is HeldBy it")
	}
}

// Sessions beyond the newest keep are removed, except the latest, the
// protected, those whose daemons run, and directories rayo did not name.
func TestPruneKeepsNewestAndLive(t *testing.T) {
	tmp := t.TempDir()
	var ds []*Dir
	for range 8 {
		ds = append(ds, mustCreate(t, tmp))
	}
	// ds[1]: a daemon (a real process) still runs in it.
	sleeper := exec.Command("sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() })
	if err := ds[1].WritePid("node-a", sleeper.Process.Pid); err != nil {
		t.Fatal(err)
	}
	// ds[0]: its daemon is gone (a pid file with a start time no process
	// has).
	gone, _ := Identify(os.Getpid())
	gone.Start++
	if err := os.WriteFile(filepath.Join(ds[0].PidsDir(), "head.pid"), gone.marshal(), 0o600); err != nil {
		t.Fatal(err)
	}
	// ds[2] is protected (the head's session being recovered, say).
	if err := os.Mkdir(filepath.Join(tmp, "session_by_hand"), 0o700); err != nil {
		t.Fatal(err)
	}
	// session_latest points at ds[3].
	if err := ds[3].MakeLatest(); err != nil {
		t.Fatal(err)
	}
	removed, err := Prune(tmp, 3, ds[2].Path)
	if err != nil {
		t.Fatal(err)
	}
	wantGone := map[string]bool{ds[0].Path: true, ds[4].Path: true}
	if len(removed) != len(wantGone) {
		t.Errorf("removed %v, want %v", removed, wantGone)
	}
	for _, p := range removed {
		if !wantGone[p] {
			t.Errorf("removed %s, which it must keep", p)
		}
	}
	for i, d := range ds {
		_, err := os.Stat(d.Path)
		if exists := err == nil; exists == wantGone[d.Path] {
			t.Errorf("session %d: exists=%v after Prune", i, exists)
		}
	}
	if _, err := os.Stat(filepath.Join(tmp, "session_by_hand")); err != nil {
		t.Errorf("a directory rayo did not name was removed: %v", err)
	}
	if removed, err := Prune(tmp, 0); err != nil || len(removed) != 0 {
		t.Errorf("keep 0 removed %v, %v; want nothing", removed, err)
	}
}

package session

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func mustCreate(t *testing.T, tempDir string) *Dir {
	t.Helper()
	d, err := Create(tempDir)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return d
}

func TestCreateLayoutAndLatest(t *testing.T) {
	tmp := filepath.Join(t.TempDir(), "rayo") // not yet existing
	d1 := mustCreate(t, tmp)
	d2 := mustCreate(t, tmp)
	if d1.Path == d2.Path {
		t.Fatalf("two sessions share a path: %s", d1.Path)
	}
	for _, sub := range []string{d2.LogsDir(), d2.PidsDir(), d2.BinariesDir()} {
		if fi, err := os.Stat(sub); err != nil || !fi.IsDir() {
			t.Errorf("missing subdir %s: %v", sub, err)
		}
	}
	if !strings.HasPrefix(filepath.Base(d2.Path), "session_") {
		t.Errorf("bad name %s", d2.Path)
	}

	target, err := os.Readlink(filepath.Join(tmp, "session_latest"))
	if err != nil {
		t.Fatal(err)
	}
	if filepath.IsAbs(target) || target != filepath.Base(d2.Path) {
		t.Errorf("session_latest -> %q, want relative %q", target, filepath.Base(d2.Path))
	}
	latest, err := Latest(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if latest.Path != d2.Path {
		t.Errorf("Latest = %s, want %s", latest.Path, d2.Path)
	}
	// No temp symlinks left behind.
	entries, _ := os.ReadDir(tmp)
	if len(entries) != 3 {
		t.Errorf("temp dir has %d entries, want 3", len(entries))
	}
}

func TestLatestMissingAndDangling(t *testing.T) {
	tmp := t.TempDir()
	_, err := Latest(tmp)
	if !errors.Is(err, ErrNoSession) {
		t.Fatalf("missing: got %v, want ErrNoSession", err)
	}
	if !strings.Contains(err.Error(), tmp) {
		t.Errorf("error %q does not name temp dir", err)
	}
	d := mustCreate(t, tmp)
	if err := os.RemoveAll(d.Path); err != nil {
		t.Fatal(err)
	}
	if _, err := Latest(tmp); !errors.Is(err, ErrNoSession) {
		t.Fatalf("dangling: got %v, want ErrNoSession", err)
	}
}

func TestOpen(t *testing.T) {
	d := mustCreate(t, t.TempDir())
	o, err := Open(d.Path)
	if err != nil || o.Path != d.Path {
		t.Fatalf("Open = %v, %v", o, err)
	}
	if _, err := Open(filepath.Join(d.Path, "nope")); !errors.Is(err, ErrNoSession) {
		t.Errorf("Open missing: got %v, want ErrNoSession", err)
	}
}

func TestSameMicrosecondUnique(t *testing.T) {
	frozen := time.Date(2026, 11, 26, 9, 45, 34, 123456000, time.UTC)
	now = func() time.Time { return frozen }
	t.Cleanup(func() { now = time.Now })

	tmp := t.TempDir()
	var want []string
	for range 12 { // crosses _9 -> _10 to check numeric ordering
		want = append(want, mustCreate(t, tmp).Path)
	}
	if got := filepath.Base(want[0]); !strings.HasPrefix(got, "session_2026-11-26_09-45-34_123456_") {
		t.Errorf("name %s", got)
	}
	all, err := AllSessions(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(want) {
		t.Fatalf("AllSessions: %d, want %d", len(all), len(want))
	}
	for i := range want {
		if all[i].Path != want[i] {
			t.Errorf("AllSessions[%d] = %s, want %s", i, all[i].Path, want[i])
		}
	}
	if l, _ := Latest(tmp); l == nil || l.Path != want[len(want)-1] {
		t.Errorf("Latest = %v, want %s", l, want[len(want)-1])
	}
}

func TestConcurrentCreate(t *testing.T) {
	tmp := t.TempDir()
	var wg sync.WaitGroup
	paths := make([]string, 16)
	for i := range paths {
		wg.Go(func() {
			d, err := Create(tmp)
			if err != nil {
				t.Error(err)
				return
			}
			paths[i] = d.Path
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, p := range paths {
		if seen[p] {
			t.Errorf("duplicate %s", p)
		}
		seen[p] = true
	}
	if _, err := Latest(tmp); err != nil {
		t.Errorf("Latest after concurrent create: %v", err)
	}
}

func TestAllSessionsOrdering(t *testing.T) {
	tmp := t.TempDir()
	names := []string{
		"session_2026-01-02_03-04-05_000001_99",
		"session_2025-12-31_23-59-59_999999_1",
		"session_2026-01-02_03-04-05_000001_100",
		"session_2026-01-02_03-04-05_000001_99_2",
		"session_2026-01-02_03-04-05_000001_99_10",
	}
	for _, n := range names {
		if err := os.Mkdir(filepath.Join(tmp, n), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Non-session entries are ignored.
	os.WriteFile(filepath.Join(tmp, "session_file"), nil, 0o644)
	os.Mkdir(filepath.Join(tmp, "other"), 0o755)
	os.Symlink(names[0], filepath.Join(tmp, "session_latest"))

	all, err := AllSessions(tmp)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"session_2025-12-31_23-59-59_999999_1",
		"session_2026-01-02_03-04-05_000001_99",
		"session_2026-01-02_03-04-05_000001_99_2",
		"session_2026-01-02_03-04-05_000001_99_10",
		"session_2026-01-02_03-04-05_000001_100",
	}
	if len(all) != len(want) {
		t.Fatalf("got %d sessions, want %d", len(all), len(want))
	}
	for i, w := range want {
		if got := filepath.Base(all[i].Path); got != w {
			t.Errorf("[%d] = %s, want %s", i, got, w)
		}
	}

	none, err := AllSessions(filepath.Join(tmp, "missing"))
	if err != nil || len(none) != 0 {
		t.Errorf("missing temp dir: %v, %v", none, err)
	}
}

func TestTokenFile(t *testing.T) {
	d := mustCreate(t, t.TempDir())
	if _, err := d.ReadToken(); !errors.Is(err, ErrNoToken) {
		t.Fatalf("missing token: got %v, want ErrNoToken", err)
	}
	tok, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.WriteToken(tok); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(d.Path, "token"))
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("token mode %#o, want 0600", perm)
	}
	got, err := d.ReadToken()
	if err != nil || got != tok {
		t.Errorf("ReadToken = %q, %v; want %q", got, err, tok)
	}
	if err := d.WriteToken("  "); err == nil {
		t.Error("WriteToken accepted an empty token")
	}
	if err := os.WriteFile(filepath.Join(d.Path, "token"), []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ReadToken(); !errors.Is(err, ErrNoToken) {
		t.Errorf("empty token: got %v, want ErrNoToken", err)
	}
}

func TestAddress(t *testing.T) {
	d := mustCreate(t, t.TempDir())
	if _, err := d.ReadAddress(); !errors.Is(err, ErrNoSession) {
		t.Fatalf("missing address: got %v, want ErrNoSession", err)
	}
	if err := d.WriteAddress("10.0.0.1:6380"); err != nil {
		t.Fatal(err)
	}
	if a, err := d.ReadAddress(); err != nil || a != "10.0.0.1:6380" {
		t.Errorf("ReadAddress = %q, %v", a, err)
	}
}

func TestNewTokenAndEqual(t *testing.T) {
	a, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewToken()
	if len(a) != 64 || strings.Trim(a, "0123456789abcdef") != "" {
		t.Errorf("token %q is not 64 hex chars", a)
	}
	if a == b {
		t.Error("two tokens are equal")
	}
	if !TokensEqual(a, strings.Clone(a)) {
		t.Error("TokensEqual(a, a) = false")
	}
	if TokensEqual(a, b) || TokensEqual(a, a[:63]) || TokensEqual("", "") {
		t.Error("TokensEqual matched different or empty tokens")
	}
}

func TestPids(t *testing.T) {
	d := mustCreate(t, t.TempDir())
	if err := d.WritePid("head", 1234); err != nil {
		t.Fatal(err)
	}
	if err := d.WritePid("node", 5678); err != nil {
		t.Fatal(err)
	}
	// Malformed and foreign files are skipped.
	os.WriteFile(filepath.Join(d.PidsDir(), "bad.pid"), []byte("not a pid\n"), 0o644)
	os.WriteFile(filepath.Join(d.PidsDir(), "neg.pid"), []byte("-3"), 0o644)
	os.WriteFile(filepath.Join(d.PidsDir(), "notes.txt"), []byte("42"), 0o644)

	got, err := d.Pids()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["head"] != 1234 || got["node"] != 5678 {
		t.Errorf("Pids = %v", got)
	}
	if err := d.RemovePid("head"); err != nil {
		t.Fatal(err)
	}
	if err := d.RemovePid("head"); err != nil {
		t.Errorf("second RemovePid: %v", err)
	}
	got, _ = d.Pids()
	if _, ok := got["head"]; ok || got["node"] != 5678 {
		t.Errorf("after remove Pids = %v", got)
	}
	if err := d.WritePid("../escape", 1); err == nil {
		t.Error("WritePid accepted a path-escaping name")
	}
}

func TestLogFile(t *testing.T) {
	d := mustCreate(t, t.TempDir())
	for _, s := range []string{"one\n", "two\n"} {
		f, err := d.LogFile("head")
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(s)
		f.Close()
	}
	b, err := os.ReadFile(filepath.Join(d.LogsDir(), "head.log"))
	if err != nil || string(b) != "one\ntwo\n" {
		t.Errorf("log = %q, %v; want appended lines", b, err)
	}
}

func TestResolve(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("RAYO_ADDRESS", "")
	t.Setenv("RAYO_TOKEN", "")

	// Nothing anywhere.
	if _, _, err := Resolve(tmp, "", ""); !errors.Is(err, ErrNoSession) || !strings.Contains(err.Error(), tmp) {
		t.Fatalf("no session: got %v, want ErrNoSession naming %s", err, tmp)
	}
	// Address given but no token anywhere.
	if _, _, err := Resolve(tmp, "flag:1", ""); !errors.Is(err, ErrNoToken) {
		t.Fatalf("no token: got %v, want ErrNoToken", err)
	}
	// Flags alone suffice without a session.
	if a, tk, err := Resolve(tmp, "flag:1", "flagtok"); err != nil || a != "flag:1" || tk != "flagtok" {
		t.Fatalf("flags only = %q %q %v", a, tk, err)
	}

	d := mustCreate(t, tmp)
	// Session without address: ErrNoSession naming the temp dir.
	if _, _, err := Resolve(tmp, "", ""); !errors.Is(err, ErrNoSession) || !strings.Contains(err.Error(), tmp) {
		t.Fatalf("no address: got %v", err)
	}
	if err := d.WriteAddress("sess:1"); err != nil {
		t.Fatal(err)
	}
	// Session without token.
	if _, _, err := Resolve(tmp, "", ""); !errors.Is(err, ErrNoToken) {
		t.Fatalf("session without token: got %v", err)
	}
	if err := d.WriteToken("sesstok"); err != nil {
		t.Fatal(err)
	}

	check := func(name, addrFlag, tokFlag, wantAddr, wantTok string) {
		t.Helper()
		a, tk, err := Resolve(tmp, addrFlag, tokFlag)
		if err != nil || a != wantAddr || tk != wantTok {
			t.Errorf("%s: Resolve = %q, %q, %v; want %q, %q", name, a, tk, err, wantAddr, wantTok)
		}
	}
	check("session", "", "", "sess:1", "sesstok")

	t.Setenv("RAYO_ADDRESS", "env:1")
	check("env addr", "", "", "env:1", "sesstok")
	t.Setenv("RAYO_TOKEN", "envtok")
	check("env both", "", "", "env:1", "envtok")
	check("flag addr", "flag:1", "", "flag:1", "envtok")
	check("flag both", "flag:1", "flagtok", "flag:1", "flagtok")

	t.Setenv("RAYO_ADDRESS", "")
	check("flag token, session addr", "", "flagtok", "sess:1", "flagtok")
}

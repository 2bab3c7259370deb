package python

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestPackageMatchesDisk checks that the embed patterns take every .py
// file of python/rayo (a subpackage two levels down would need a pattern
// of its own) and nothing else.
func TestPackageMatchesDisk(t *testing.T) {
	onDisk := map[string]bool{}
	err := filepath.WalkDir("rayo", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "__pycache__" {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".py") {
			onDisk[filepath.ToSlash(p)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	embedded := map[string]bool{}
	err = fs.WalkDir(Package(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		embedded[p] = true
		want, err := os.ReadFile(filepath.FromSlash(p))
		if err != nil {
			return err
		}
		got, err := fs.ReadFile(Package(), p)
		if err != nil {
			return err
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: embedded content differs from the file", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for p := range onDisk {
		if !embedded[p] {
			t.Errorf("%s is not embedded: add a pattern to embed.go", p)
		}
	}
	for p := range embedded {
		if !onDisk[p] {
			t.Errorf("%s is embedded but not a .py file of the package", p)
		}
	}
	for _, must := range []string{"rayo/__init__.py", "rayo/train/__init__.py", "rayo/train/_launch.py"} {
		if !embedded[must] {
			t.Errorf("%s missing", must)
		}
	}
}

func TestHash(t *testing.T) {
	h := Hash()
	if len(h) != 64 || strings.Trim(h, "0123456789abcdef") != "" {
		t.Fatalf("Hash() = %q, want 64 hex digits", h)
	}
	if Hash() != h {
		t.Fatal("Hash() changed between calls")
	}
}

// checkCopy verifies that dir holds the embedded package with private
// permissions.
func checkCopy(t *testing.T, dir string) {
	t.Helper()
	if got, want := filepath.Base(dir), "rayo-py-"+Hash()[:24]; !strings.HasPrefix(got, want) {
		t.Errorf("copy named %s, want %s", got, want)
	}
	err := fs.WalkDir(Package(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(p)))
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700 | fs.ModeDir
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode(), want)
		}
		if !d.IsDir() {
			got, _ := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p)))
			emb, _ := fs.ReadFile(Package(), p)
			if !bytes.Equal(got, emb) {
				t.Errorf("%s: content differs", p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// entries lists base's directory entries.
func entries(t *testing.T, base string) []string {
	t.Helper()
	des, err := os.ReadDir(base)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range des {
		out = append(out, d.Name())
	}
	return out
}

func TestExtractTo(t *testing.T) {
	base := filepath.Join(t.TempDir(), "cache", "rayo")
	dir, err := ExtractTo(base)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(dir) != base {
		t.Fatalf("ExtractTo(%s) = %s, not a child of it", base, dir)
	}
	checkCopy(t, dir)
	if fi, err := os.Stat(base); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("base: %v %v, want mode 0700", fi.Mode(), err)
	}

	// Idempotent: the same copy, not rewritten (a file's identity holds),
	// nothing left beside it; files Python adds (__pycache__) are fine.
	before, err := os.Stat(filepath.Join(dir, "rayo", "__init__.py"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "rayo", "__pycache__"), 0o700); err != nil {
		t.Fatal(err)
	}
	again, err := ExtractTo(base)
	if err != nil || again != dir {
		t.Fatalf("second ExtractTo = %s, %v; want %s", again, err, dir)
	}
	after, err := os.Stat(filepath.Join(dir, "rayo", "__init__.py"))
	if err != nil || !os.SameFile(before, after) {
		t.Fatalf("second ExtractTo rewrote the copy (%v)", err)
	}
	if got := entries(t, base); len(got) != 1 {
		t.Fatalf("base holds %v, want the one copy", got)
	}
}

func TestExtractToDifferingCopy(t *testing.T) {
	// A copy that differs (cut short, edited) is left alone, since
	// another process may use it: the next name gets a good copy.
	base := t.TempDir()
	dir, err := ExtractTo(base)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "rayo", "train", "_launch.py")
	if err := os.WriteFile(bad, []byte("cut sho"), 0o600); err != nil {
		t.Fatal(err)
	}
	other, err := ExtractTo(base)
	if err != nil {
		t.Fatal(err)
	}
	if other != dir+".1" {
		t.Fatalf("ExtractTo over a differing copy = %s, want %s.1", other, dir)
	}
	checkCopy(t, other)
	if b, _ := os.ReadFile(bad); string(b) != "cut sho" {
		t.Fatal("the differing copy was touched")
	}
}

func TestExtractToConcurrent(t *testing.T) {
	// Goroutines race as processes would: each writes its own temporary
	// copy and renames it; all must end with the one complete copy.
	base := t.TempDir()
	const n = 8
	dirs := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { dirs[i], errs[i] = ExtractTo(base) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("ExtractTo #%d: %v", i, errs[i])
		}
		if dirs[i] != dirs[0] {
			t.Fatalf("ExtractTo #%d = %s, #0 = %s", i, dirs[i], dirs[0])
		}
	}
	checkCopy(t, dirs[0])
	if got := entries(t, base); len(got) != 1 {
		t.Fatalf("base holds %v after the race, want the one copy", got)
	}
}

func TestExtractToUnsafeBase(t *testing.T) {
	open := t.TempDir()
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := ExtractTo(open); !errors.Is(err, ErrUnsafeDir) {
		t.Errorf("ExtractTo(a world-writable dir) = %v, want ErrUnsafeDir", err)
	}
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(t.TempDir(), link); err != nil {
		t.Fatal(err)
	}
	if _, err := ExtractTo(link); !errors.Is(err, ErrUnsafeDir) {
		t.Errorf("ExtractTo(a symbolic link) = %v, want ErrUnsafeDir", err)
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ExtractTo(file); err == nil {
		t.Error("ExtractTo(a file) succeeded")
	}
}

func TestDir(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	dir, err := Dir()
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(dir) != filepath.Join(cache, "rayo") {
		t.Fatalf("Dir() = %s, want it under %s/rayo", dir, cache)
	}
	checkCopy(t, dir)
	if again, err := Dir(); err != nil || again != dir {
		t.Fatalf("second Dir() = %s, %v", again, err)
	}
}

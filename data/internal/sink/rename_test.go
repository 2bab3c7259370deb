package sink

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestRenameNoReplace(t *testing.T) {
	for name, fn := range map[string]func(string, string) error{"renameNoReplace": renameNoReplace, "linkRename": linkRename} {
		t.Run(name, func(t *testing.T) {
			d := t.TempDir()
			a, b, c := filepath.Join(d, "a"), filepath.Join(d, "b"), filepath.Join(d, "c")
			for _, p := range []string{a, b} {
				if err := os.WriteFile(p, []byte(p), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if err := fn(a, b); !errors.Is(err, fs.ErrExist) {
				t.Fatalf("onto an existing file: %v, want ErrExist", err)
			}
			if got, _ := os.ReadFile(b); string(got) != b {
				t.Fatal("the existing file was replaced")
			}
			if err := fn(a, c); err != nil {
				t.Fatal(err)
			}
			if got, _ := os.ReadFile(c); string(got) != a {
				t.Fatal("moved file has the wrong contents")
			}
			if _, err := os.Stat(a); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("source still there: %v", err)
			}
		})
	}
}

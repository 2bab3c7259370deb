package python

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// interpreter is Debian's Python, which sees Debian's packages (the
// python3 first on PATH may not).
const interpreter = "/usr/bin/python3"

// TestPythonPackage runs the Python package's pytest suite.
func TestPythonPackage(t *testing.T) {
	check := exec.Command(interpreter, "-c", "import msgpack, cloudpickle, numpy, pytest")
	if out, err := check.CombinedOutput(); err != nil {
		msg := "the Python tests need " + interpreter + " with python3-msgpack, python3-cloudpickle, python3-numpy and python3-pytest: " + string(out)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	readInputs(t)
	cmd := exec.Command(interpreter, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests")
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	out, err := cmd.CombinedOutput()
	t.Logf("pytest:\n%s", out)
	if err != nil {
		t.Fatalf("pytest: %v", err)
	}
}

// readInputs reads every Go and Python source of the repository. The
// suite builds and runs them in other processes, which go test's cache
// does not see; files this process opens are part of the cached result's
// key, so a change to any of them runs the suite again.
func readInputs(t *testing.T) {
	t.Helper()
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules" || d.Name() == "__pycache__") {
			return filepath.SkipDir
		}
		if !d.IsDir() && (strings.HasSuffix(path, ".go") || strings.HasSuffix(path, ".py")) {
			_, err := os.ReadFile(path)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatalf("reading the sources the suite runs: %v", err)
	}
}

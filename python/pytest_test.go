package python

import (
	"os"
	"os/exec"
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
	cmd := exec.Command(interpreter, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests")
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	out, err := cmd.CombinedOutput()
	t.Logf("pytest:\n%s", out)
	if err != nil {
		t.Fatalf("pytest: %v", err)
	}
}

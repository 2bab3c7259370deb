package proc

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain runs the tests with the embedded Python package extracted
// into a private cache directory (the production path; no
// RAYO_PYTHONPATH), and checks that no goroutine outlives them.
func TestMain(m *testing.M) {
	cache, err := os.MkdirTemp("", "rayo-proc-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	_ = os.Setenv("XDG_CACHE_HOME", cache)
	for _, k := range []string{"RAYO_PYTHONPATH", "RAYO_PYTHON", "PYTHONPATH", "PYTHONSAFEPATH"} {
		_ = os.Unsetenv(k)
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	_ = os.RemoveAll(cache)
	os.Exit(code)
}

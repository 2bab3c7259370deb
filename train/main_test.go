package train_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/rayo-dev/rayo"
)

// TestMain runs every test against one embedded cluster and lets this
// test binary serve as its own workers (the training loops run in them).
func TestMain(m *testing.M) {
	if rayo.IsWorker() {
		_ = rayo.Init(context.Background()) // serves tasks; never returns
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "rayo-train-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := rayo.Init(context.Background(), rayo.WithNumCPUs(4), rayo.WithObjectStoreMemory(256<<20),
		rayo.WithLogToDriver(false), rayo.WithTempDir(dir)); err != nil {
		fmt.Fprintln(os.Stderr, "rayo.Init:", err)
		return 1
	}
	code := m.Run()
	rayo.Shutdown()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			return 1
		}
	}
	return code
}

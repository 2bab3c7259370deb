package microbench_test

import (
	"context"
	"testing"

	"go.uber.org/goleak"

	"github.com/rayo-dev/rayo"
)

// TestMain lets this test binary serve as its own workers: the node
// daemon starts workers by running the driver's executable.
func TestMain(m *testing.M) {
	if rayo.IsWorker() {
		_ = rayo.Init(context.Background()) // serves tasks; never returns
	}
	goleak.VerifyTestMain(m)
}

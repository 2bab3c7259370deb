package data_test

import (
	"context"
	"testing"

	"go.uber.org/goleak"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/data/internal/block"
)

// The block errors are registered at package init, before TestMain, so
// in every worker too (as package data will at its own init).
var _ = func() struct{} { block.RegisterErrors(rayo.RegisterError); return struct{}{} }()

// TestMain lets this test binary serve as its own workers: node daemons
// start workers by running the driver's executable, here the test binary.
func TestMain(m *testing.M) {
	if rayo.IsWorker() {
		_ = rayo.Init(context.Background()) // serves tasks; never returns
	}
	goleak.VerifyTestMain(m)
}

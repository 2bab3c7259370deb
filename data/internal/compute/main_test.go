package compute_test

import (
	"testing"

	"go.uber.org/goleak"
)

// The kernels start no goroutine; Arrow's compute executor must not
// leave one behind either.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

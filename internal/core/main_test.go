package core

import (
	"testing"

	"go.uber.org/goleak"
)

// Every goroutine a test's runtime starts must be gone when the tests end.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

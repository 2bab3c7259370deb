package cluster

import (
	"testing"

	"go.uber.org/goleak"
)

// Every goroutine the daemons start must be gone when Stop (or a failed
// Start) returns.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

package jobs

import (
	"testing"

	"go.uber.org/goleak"
)

// Every goroutine a Manager starts ends with Close.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

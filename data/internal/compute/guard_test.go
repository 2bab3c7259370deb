package compute

import (
	"strings"
	"testing"
)

func TestGuardTurnsPanicIntoError(t *testing.T) {
	err := func() (err error) {
		defer guard(&err)
		panic("boom")
	}()
	if err == nil || !strings.Contains(err.Error(), "compute kernel failed: boom") {
		t.Fatal(err)
	}
}

package cli

import (
	"runtime"
	"testing"
)

func TestBridgeProcs(t *testing.T) {
	was := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(was) })

	t.Setenv("GOMAXPROCS", "")
	bridgeProcs()
	if got, want := runtime.GOMAXPROCS(0), max(1, runtime.NumCPU()/2); got != want {
		t.Errorf("GOMAXPROCS %d, want half the cores (%d)", got, want)
	}

	runtime.GOMAXPROCS(3)
	t.Setenv("GOMAXPROCS", "3")
	bridgeProcs()
	if got := runtime.GOMAXPROCS(0); got != 3 {
		t.Errorf("GOMAXPROCS %d: the environment's 3 must win", got)
	}
}

package rpc

import (
	"syscall"
	"testing"
)

// The soft limit on descriptors is raised to the hard limit.
func TestRaiseFileLimit(t *testing.T) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Max < 64 {
		t.Skipf("hard limit %d: nothing to lower", lim.Max)
	}
	low := syscall.Rlimit{Cur: min(lim.Max/2, 1024), Max: lim.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim) })
	got, err := raiseFileLimit()
	if err != nil || got != lim.Max {
		t.Fatalf("raised to %d (%v), want %d", got, err, lim.Max)
	}
	var now syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &now); err != nil || now.Cur != lim.Max {
		t.Fatalf("soft limit now %d (%v), want %d", now.Cur, err, lim.Max)
	}
}

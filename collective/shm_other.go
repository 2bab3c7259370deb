//go:build !linux

package collective

import (
	"os"
	"time"
)

func reserve(f *os.File, size int) error { return nil }

// Without a futex (the segment is only used where hostIdentity is known,
// which is Linux), a waiter polls.
func futexWait(addr *uint32, val uint32, d time.Duration) { time.Sleep(min(d, 100*time.Microsecond)) }

func futexWake(addr *uint32) {}

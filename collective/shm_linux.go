package collective

import (
	"errors"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// reserve allocates the segment's pages now, so that a full /dev/shm (a
// container's is 64 MiB by default) shows as an error at Join, and the
// group stays on TCP, instead of as a SIGBUS at the first store.
func reserve(f *os.File, size int) error {
	err := unix.Fallocate(int(f.Fd()), 0, 0, int64(size))
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		return nil // a file system without it: sparse, as before
	}
	return err
}

// The futex(2) operations (not in x/sys/unix): shared, not
// FUTEX_PRIVATE_FLAG, since the words live in a file mapping.
const (
	futexWaitOp = 0
	futexWakeOp = 1
)

// futexWait sleeps while *addr == val, for at most d (or until a
// futexWake on the same word, from any process that maps it). Spurious
// returns are fine: callers re-check their condition.
func futexWait(addr *uint32, val uint32, d time.Duration) {
	ts := unix.NsecToTimespec(max(int64(d), 1000))
	_, _, _ = unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWaitOp, uintptr(val),
		uintptr(unsafe.Pointer(&ts)), 0, 0)
}

// futexWake wakes every sleeper on addr.
func futexWake(addr *uint32) {
	_, _, _ = unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWakeOp, uintptr(1<<31-1), 0, 0, 0)
}

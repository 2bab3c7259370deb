package objstore

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// madvPopulateWrite is MADV_POPULATE_WRITE (Linux 5.14).
const madvPopulateWrite = 23

var pageSize = uintptr(os.Getpagesize())

// Prefault maps in the pages under b, writable, without changing a byte:
// the first write to a page of fresh shared memory takes a page fault,
// which at gigabytes per second costs as much as the copy itself. A
// transfer prefaults the chunks ahead of the ones it is receiving, on
// another core, so that the receiving copy finds its pages in place. It
// reports false where the kernel cannot do it (older than 5.14): the
// pages then fault in as they are written, as before.
func Prefault(b []byte) bool {
	if len(b) == 0 {
		return true
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	end := start + uintptr(len(b))
	start &^= pageSize - 1 // madvise takes whole pages; the neighbours' bytes are left as they are
	_, _, errno := unix.Syscall(unix.SYS_MADVISE, start, end-start, madvPopulateWrite)
	return errno == 0
}

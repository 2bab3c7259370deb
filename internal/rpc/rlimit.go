package rpc

import (
	"sync"
	"syscall"
)

// RaiseFileLimit raises this process's soft limit on open descriptors to
// its hard limit, and returns the limit now in force. Every connection
// costs a descriptor; a daemon out of them cannot accept. The Go runtime
// raises the soft limit for itself too, but restores the old one in the
// processes it starts; setting it here makes the children (workers, the
// node daemon a head starts) inherit the raised limit. Safe to call more
// than once: only the first call acts.
func RaiseFileLimit() (uint64, error) {
	raiseOnce.Do(func() { raisedTo, raiseErr = raiseFileLimit() })
	return raisedTo, raiseErr
}

var (
	raiseOnce sync.Once
	raisedTo  uint64
	raiseErr  error
)

func raiseFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	return lim.Cur, nil
}

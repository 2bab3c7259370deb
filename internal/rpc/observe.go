package rpc

import "time"

// Observer is told how long each served call took, from its arrival to
// its reply's send, and whether it failed. It runs on the serving
// goroutine, so it must be quick (a histogram's Observe). Calls to
// unregistered methods are not observed: their names come from clients
// and would make label values unbounded.
type Observer func(method string, took time.Duration, err error)

// SetObserver installs o for the calls that arrive from now on (nil
// removes it). Without one the call path pays a single nil check.
func (s *Server) SetObserver(o Observer) {
	s.mu.Lock()
	s.observer = o
	s.mu.Unlock()
}

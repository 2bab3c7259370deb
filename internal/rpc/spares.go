package rpc

import (
	"sync"
	"sync/atomic"
)

// spares keeps goroutines that finished serving a request, so that the
// next hand-off of a connection's reading reuses one instead of starting
// a goroutine: a new goroutine starts on a small stack that serving a
// request grows again, by copying, every time (a seventh of a worker's
// CPU at full task rate went to that).
type spares struct {
	work chan func() // unbuffered: a send succeeds only to a waiting spare
	idle atomic.Int32
	stop chan struct{}
	wg   sync.WaitGroup
}

// maxSpares bounds the goroutines kept waiting per server.
const maxSpares = 64

func newSpares() *spares { return &spares{work: make(chan func()), stop: make(chan struct{})} }

// run runs f on a waiting spare, or on a new goroutine.
func (sp *spares) run(f func()) {
	select {
	case sp.work <- f:
		return
	default:
	}
	sp.wg.Add(1)
	go sp.serve(f)
}

func (sp *spares) serve(f func()) {
	defer sp.wg.Done()
	for {
		f()
		f = nil // a waiting spare keeps nothing of the connection it served
		if sp.idle.Add(1) > maxSpares {
			sp.idle.Add(-1)
			return
		}
		select {
		case f = <-sp.work:
			sp.idle.Add(-1)
		case <-sp.stop:
			sp.idle.Add(-1)
			return
		}
	}
}

// close ends the waiting spares once nothing runs on them any more.
func (sp *spares) close() {
	close(sp.stop)
	sp.wg.Wait()
}

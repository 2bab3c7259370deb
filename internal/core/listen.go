package core

// watchListeners reports a listener of this process that stopped for good
// (rpc.Server.Failed): logged at Error, and a worker then exits as when
// its node goes (its main waits on NodeDone), since nothing can reach it.
// A driver is the user's program: it is told, and can still submit, but
// borrowers can no longer fetch its objects.
func (rt *Runtime) watchListeners() {
	rt.wg.Add(1)
	go func() {
		defer rt.wg.Done()
		select {
		case <-rt.srv.Failed():
		case <-rt.closed:
			return
		}
		rt.log.Error("core: this process's listener stopped; other processes can no longer reach it", "addr", rt.addr, "err", rt.srv.Err())
		if rt.cfg.IsWorker {
			_ = rt.node.Close()
		}
	}()
}

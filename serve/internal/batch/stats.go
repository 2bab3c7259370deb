package batch

// Stats is a snapshot of a Batcher's counters, for metrics.
type Stats struct {
	Batches       uint64 // batches run, failed ones included
	Items         uint64 // items sent to fn
	FailedBatches uint64 // batches whose fn returned an error, panicked or returned the wrong length
	Queued        int    // items waiting now
	Running       int    // batches running now
}

// Stats returns the current counters.
func (b *Batcher[In, Out]) Stats() Stats {
	b.mu.Lock()
	queued, running := b.q.len(), b.running
	b.mu.Unlock()
	return Stats{
		Batches:       b.batches.Load(),
		Items:         b.items.Load(),
		FailedBatches: b.failed.Load(),
		Queued:        queued,
		Running:       running,
	}
}

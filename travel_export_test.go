package rayo

// TaskResourcesForTest returns the resources a task's calls ask for (its
// options), for tests that check they survive a trip to another process.
func TaskResourcesForTest[R any](t *Task[R]) map[string]float64 { return t.opts.resources }

package tpe

// An arena hands out float slices from one reusable buffer, so that a
// Sampler's repeated fits of ~1,000-kernel mixtures allocate nothing
// once it has grown (the garbage collector otherwise costs as much as
// the fits). A nil arena allocates.
type arena struct {
	buf  []float64
	used int
}

// take returns n zeroed floats, valid until the next reset.
func (a *arena) take(n int) []float64 {
	if a == nil {
		return make([]float64, n)
	}
	if a.used+n > len(a.buf) {
		// Slices handed out earlier keep the old buffer alive.
		a.buf = make([]float64, max(2*len(a.buf), a.used+n, 1024))
		a.used = 0
	}
	s := a.buf[a.used : a.used+n : a.used+n]
	a.used += n
	clear(s)
	return s
}

// reset makes the whole buffer available again.
func (a *arena) reset() {
	if a != nil {
		a.used = 0
	}
}

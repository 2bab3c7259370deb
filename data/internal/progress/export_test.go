package progress

// WithTicks makes o's Reporter take its periods from ticks, not a clock:
// Lines mode writes its lines, Bars mode redraws, once per value.
func WithTicks(o Options, ticks <-chan any) Options {
	o.ticks = ticks
	return o
}

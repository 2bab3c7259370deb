package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"
)

// Mode is how a Reporter shows progress.
type Mode int

const (
	// Auto: Bars when the writer is a terminal, Lines otherwise (Ray
	// Data's default: tqdm bars in a terminal).
	Auto Mode = iota
	// Bars: one bar per operator, redrawn in place.
	Bars
	// Lines: a plain line per operator at most every Options.Interval,
	// and a summary line at Close; for logs.
	Lines
	// Quiet: nothing (Ray Data's enable_progress_bars = False).
	Quiet
)

// String names the mode as ParseMode reads it.
func (m Mode) String() string {
	switch m {
	case Auto:
		return "auto"
	case Bars:
		return "bars"
	case Lines:
		return "lines"
	case Quiet:
		return "quiet"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode reads a mode's name ("auto", "bars", "lines", "quiet"; case
// aside), as a flag or an environment variable gives it; an empty name is
// Auto. Ray Data's equivalent is setting DataContext.enable_progress_bars.
// An unknown name is an error wrapping ErrMode.
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "auto":
		return Auto, nil
	case "bars":
		return Bars, nil
	case "lines":
		return Lines, nil
	case "quiet":
		return Quiet, nil
	}
	return Auto, fmt.Errorf("%w %q (want auto, bars, lines or quiet)", ErrMode, s)
}

// DefaultInterval is Lines mode's default Options.Interval.
const DefaultInterval = 5 * time.Second

// Options tune a Reporter; the zero value is the defaults. Ray Data's
// equivalent is DataContext's progress-bar settings.
type Options struct {
	// Interval: in Lines mode, an operator gets a line at most this often
	// (0: DefaultInterval). A line is written only for an operator whose
	// figures changed since its last one.
	Interval time.Duration
	// Width: in Bars mode, the width of a line when the writer is not a
	// terminal whose size can be read (0: 100 columns).
	Width int
	// ticks, for tests: replaces Lines mode's ticker and Bars mode's
	// refresh timer; each value received is one period.
	ticks <-chan any
}

// Stats are one operator's figures so far: each Update carries the
// running totals, not increments. Ray Data's equivalent is the operator's
// OpRuntimeMetrics.
type Stats struct {
	Op         string // the operator's name, as given to New
	Rows       int64  // rows out so far
	Blocks     int64  // blocks out so far
	Bytes      int64  // bytes out so far
	StoreBytes int64  // bytes this operator holds in the object store now
	TotalRows  int64  // the rows expected in all, if known (else 0): Bars mode fills the bar to it
	Done       bool   // the operator has finished
}

// op is one operator's state.
type op struct {
	stats   Stats
	printed Stats     // Lines: the figures of the last line written
	doneAt  time.Time // when Done was first seen, for the rate
	bar     *mpb.Bar  // Bars
	total   int64     // Bars: the total the bar was given
}

// Reporter shows one pipeline run's progress. Its methods are safe for
// concurrent use. Ray Data's equivalent is the executor's progress bars.
type Reporter struct {
	w     io.Writer
	mode  Mode
	opts  Options
	start time.Time

	// mu guards the Reporter; smu guards the ops' stats and doneAt too
	// (Update holds both to write them), for the bars' decorators: they
	// run on mpb's goroutine, which an Update holding mu may be waiting
	// on.
	mu     sync.Mutex
	smu    sync.Mutex
	ops    map[string]*op
	order  []string
	closed bool

	p    *mpb.Progress // Bars
	stop chan struct{} // Lines: closed by Close
	wg   sync.WaitGroup
}

// New starts a Reporter writing to w for a pipeline of the operators ops
// (in their order on screen; an Update for another name adds it). In Auto
// mode it draws bars when w is an *os.File on a terminal (and TERM is
// not "dumb"), and writes lines otherwise; a Mode that is none of the
// four is Auto. The caller must Close it; in Bars and Lines modes it runs
// goroutines until then.
func New(w io.Writer, mode Mode, ops []string, opts Options) *Reporter {
	if mode < Auto || mode > Quiet {
		mode = Auto
	}
	if mode == Auto {
		mode = Lines
		if isTerminal(w) {
			mode = Bars
		}
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Width <= 0 {
		opts.Width = 100
	}
	r := &Reporter{w: w, mode: mode, opts: opts, start: time.Now(), ops: map[string]*op{}}
	switch mode {
	case Bars:
		popts := []mpb.ContainerOption{mpb.WithOutput(w), mpb.WithWidth(opts.Width)}
		if opts.ticks != nil {
			popts = append(popts, mpb.WithManualRefresh(opts.ticks))
		} else {
			popts = append(popts, mpb.WithAutoRefresh())
		}
		if !isTerminal(w) {
			// Asked for bars on something else (a pipe to a pager, a test
			// buffer): redraw in place with the same escapes.
			popts = append(popts, mpb.ForceTTY())
		}
		r.p = mpb.New(popts...)
	case Lines:
		r.stop = make(chan struct{})
		r.wg.Add(1)
		go r.lines()
	}
	for _, name := range ops {
		r.opLocked(name)
	}
	return r
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd())) && os.Getenv("TERM") != "dumb"
}

// opLocked returns the operator name's state, made (with its bar) if new.
func (r *Reporter) opLocked(name string) *op {
	if o, ok := r.ops[name]; ok {
		return o
	}
	o := &op{stats: Stats{Op: name}, printed: Stats{Op: name}} // no line before its first Update
	r.ops[name] = o
	r.order = append(r.order, name)
	if r.p != nil {
		o.bar = r.newBar(name, o)
	}
	return o
}

// Mode is the mode the Reporter runs in: New's, with Auto resolved.
func (r *Reporter) Mode() Mode { return r.mode }

// Update records an operator's figures so far. After Close it does
// nothing.
func (r *Reporter) Update(s Stats) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.mode == Quiet {
		return
	}
	o := r.opLocked(s.Op)
	r.smu.Lock()
	if s.Done && o.doneAt.IsZero() {
		o.doneAt = time.Now()
	}
	o.stats = s
	r.smu.Unlock()
	if o.bar != nil {
		r.updateBar(o)
	}
}

// Close stops the Reporter: it draws the bars' last state, or writes the
// summary line, and stops its goroutines. Operators not Done are shown
// as stopped. It is idempotent.
func (r *Reporter) Close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	if r.p != nil {
		for _, name := range r.order {
			r.finishBar(r.ops[name])
		}
	}
	r.mu.Unlock()
	switch r.mode {
	case Bars:
		r.p.Wait()
	case Lines:
		close(r.stop)
		r.wg.Wait()
		r.mu.Lock()
		r.writeSummaryLocked()
		r.mu.Unlock()
	}
}

// rate is o's rows per second since the run began (until o was done).
func (r *Reporter) rate(o *op, now time.Time) float64 {
	end := now
	if !o.doneAt.IsZero() {
		end = o.doneAt
	}
	secs := end.Sub(r.start).Seconds()
	if secs <= 0 {
		return 0
	}
	return float64(o.stats.Rows) / secs
}

// figures is an operator's figures as text, the same in both modes.
func (r *Reporter) figures(o *op, now time.Time) string {
	return fmt.Sprintf("%d rows, %d blocks, %s rows/s, store % .1f",
		o.stats.Rows, o.stats.Blocks, humanRate(r.rate(o, now)), decor.SizeB1024(o.stats.StoreBytes))
}

func humanRate(v float64) string {
	switch {
	case v >= 1e9:
		return fmt.Sprintf("%.1fG", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%.1fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

// lines is Lines mode's goroutine: every Interval, a line for each
// operator whose figures changed.
func (r *Reporter) lines() {
	defer r.wg.Done()
	var ticker <-chan time.Time
	if r.opts.ticks == nil {
		t := time.NewTicker(r.opts.Interval)
		defer t.Stop()
		ticker = t.C
	}
	for {
		select {
		case <-r.stop:
			return
		case <-r.opts.ticks:
		case <-ticker:
		}
		r.writeLines()
	}
}

// writeLines writes a line for each operator whose figures changed since
// its last line.
func (r *Reporter) writeLines() {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	var b strings.Builder
	for _, name := range r.order {
		o := r.ops[name]
		if o.stats == o.printed {
			continue
		}
		o.printed = o.stats
		state := "running"
		if o.stats.Done {
			state = "done"
		}
		fmt.Fprintf(&b, "data progress: %s: %s (%s)\n", name, r.figures(o, now), state)
	}
	if b.Len() > 0 {
		// A progress line that cannot be written must not fail the
		// pipeline: the error is dropped.
		_, _ = io.WriteString(r.w, b.String())
	}
}

// writeSummaryLocked writes Lines mode's last line: every operator's
// totals and the run's time.
func (r *Reporter) writeSummaryLocked() {
	now := time.Now()
	parts := make([]string, len(r.order))
	for i, name := range r.order {
		o := r.ops[name]
		state := ""
		if !o.stats.Done {
			state = ", stopped"
		}
		parts[i] = fmt.Sprintf("%s: %d rows, %d blocks, %s rows/s%s", name, o.stats.Rows, o.stats.Blocks, humanRate(r.rate(o, now)), state)
	}
	_, _ = fmt.Fprintf(r.w, "data progress: finished in %s: %s\n", now.Sub(r.start).Round(time.Millisecond), strings.Join(parts, "; "))
}

package tune

import (
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/term"
)

// The live status reporter: Ray Tune's CLIReporter and its "Trial
// status" table. On a terminal the table is redrawn in place; in a log
// (not a terminal) a few plain lines are written now and then, and the
// full table once at the end.

// statusSnapshot is what the reporter shows; the runner builds one per
// refresh.
type statusSnapshot struct {
	Experiment string
	Metric     string
	Mode       Mode
	Elapsed    time.Duration
	Counts     map[TrialState]int
	Total      int        // trials planned (0: unknown)
	Best       *statusRow // best trial so far by Metric/Mode on its last result
	Rows       []statusRow
	Resources  string // e.g. "2/2 CPU, 0/0 GPU" (free-form)
}

// statusRow is one trial in the table.
type statusRow struct {
	ID        string
	State     TrialState
	Params    map[string]any // flat, by path
	Iteration int
	Metrics   Metrics
	Note      string // error text, pending reason, last decision
}

// Limits of the table, so that it fits a screen.
const (
	maxStatusRows   = 20 // trials shown; the rest are counted
	maxParamColumns = 6  // searched params shown
	maxOtherMetrics = 3  // metrics besides the experiment's
	maxNoteRunes    = 60 // a note longer than this is cut
)

// Default intervals between two refreshes: a table redrawn in place on
// a terminal costs nothing to read, so it follows training closely; in a
// log each refresh adds lines, so it comes every 30 s (Ray Tune's
// heartbeat in a non-interactive session).
const (
	defaultTTYInterval   = time.Second
	defaultPlainInterval = 30 * time.Second
)

// reporter writes the status of an experiment to a terminal or a log.
// It is used from one goroutine.
type reporter struct {
	w        io.Writer
	tty      bool
	interval time.Duration
	// width is the terminal's width in columns; lines are cut to it (0:
	// no limit).
	width int
	// lastDraw is when update last wrote; drawn says whether it has.
	lastDraw time.Time
	drawn    bool
	// liveLines is how many lines the table drawn in place has, to move
	// the cursor up over them at the next redraw.
	liveLines int
}

// newReporter makes a reporter writing to w, redrawing a table in place
// if tty, at most once per interval (0 or less: 1 s on a terminal, 30 s
// otherwise).
func newReporter(w io.Writer, tty bool, interval time.Duration) *reporter {
	if interval <= 0 {
		interval = defaultPlainInterval
		if tty {
			interval = defaultTTYInterval
		}
	}
	r := &reporter{w: w, tty: tty, interval: interval}
	if tty {
		r.width = terminalWidth(w)
	}
	return r
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// terminalWidth is w's width in columns, 0 if unknown.
func terminalWidth(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok {
		return 0
	}
	width, _, err := term.GetSize(int(f.Fd()))
	if err != nil || width <= 0 {
		return 0
	}
	return width
}

// update shows s if the interval has passed since the last update that
// wrote (the first always writes): on a terminal it redraws the table in
// place, otherwise it writes the status lines (no table).
func (r *reporter) update(s statusSnapshot, now time.Time) {
	if r.drawn && now.Sub(r.lastDraw) < r.interval {
		return
	}
	r.drawn, r.lastDraw = true, now
	if !r.tty {
		r.write(statusLines(s))
		return
	}
	r.liveLines = r.redraw(append(statusLines(s), tableLines(s)...))
}

// final writes the last status and its full table, in place of the live
// one on a terminal; it stays on screen.
func (r *reporter) final(s statusSnapshot) {
	lines := append(statusLines(s), tableLines(s)...)
	if !r.tty {
		r.write(lines)
		return
	}
	r.redraw(lines)
	r.liveLines = 0
}

// redraw replaces the table drawn last with lines, cut to the terminal's
// width (read again, as the window may have been resized), in one write
// so that the terminal does not flicker; it returns the number of lines
// drawn. Anything else written to the terminal between two draws spoils
// the redraw (part of it is overwritten, part of the old table stays),
// so the runner should log elsewhere while a table is live.
func (r *reporter) redraw(lines []string) int {
	if w := terminalWidth(r.w); w > 0 {
		r.width = w
	}
	lines = r.fit(lines)
	var b strings.Builder
	b.WriteString(r.eraseLive())
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	io.WriteString(r.w, b.String())
	return len(lines)
}

// eraseLive returns the ANSI sequence that moves the cursor up to the
// first line of the table drawn last (CUU, then carriage return) and
// clears from there to the end of the screen (ED 0).
func (r *reporter) eraseLive() string {
	if r.liveLines == 0 {
		return ""
	}
	return fmt.Sprintf("\x1b[%dA\r\x1b[J", r.liveLines)
}

func (r *reporter) write(lines []string) {
	io.WriteString(r.w, strings.Join(lines, "\n")+"\n")
}

// fit cuts each line to one column less than the terminal's width, so
// that none wraps (a wrapped line would break the count of lines to move
// up over; some terminals wrap a line that fills the width exactly).
func (r *reporter) fit(lines []string) []string {
	if r.width <= 0 {
		return lines
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = cutRunes(l, max(r.width-1, 1))
	}
	return out
}

// statusLines are the lines above the table: the experiment and its
// time, the trials by state, and the best trial.
func statusLines(s statusSnapshot) []string {
	name := s.Experiment
	if name == "" {
		name = "experiment"
	}
	lines := []string{fmt.Sprintf("== Tune status: %s, running for %s ==", clean(name), formatElapsed(s.Elapsed))}
	if s.Resources != "" {
		lines = append(lines, "Resources: "+clean(s.Resources))
	}
	lines = append(lines, "Trials: "+formatCounts(s.Counts, s.Total))
	if s.Metric != "" {
		best := "Best: none yet"
		if b := s.Best; b != nil {
			best = fmt.Sprintf("Best: %s %s=%s (%s) at iteration %d",
				clean(b.ID), clean(s.Metric), metricCell(b.Metrics, s.Metric), formatParams(b.Params), b.Iteration)
		}
		lines = append(lines, best)
	}
	return lines
}

// stateOrder is the order of the states in the counts and the table.
var stateOrder = []TrialState{Running, Pending, Paused, Terminated, Errored}

// formatCounts writes "7 of 20 (2 RUNNING, 5 TERMINATED)": states in
// stateOrder, then any other sorted; zero counts left out.
func formatCounts(counts map[TrialState]int, total int) string {
	sum := 0
	var parts []string
	add := func(st TrialState) {
		if n := counts[st]; n != 0 {
			sum += n
			parts = append(parts, fmt.Sprintf("%d %s", n, clean(string(st))))
		}
	}
	for _, st := range stateOrder {
		add(st)
	}
	var others []TrialState
	for st := range counts {
		if !slices.Contains(stateOrder, st) {
			others = append(others, st)
		}
	}
	slices.Sort(others)
	for _, st := range others {
		add(st)
	}
	out := strconv.Itoa(sum)
	if total > 0 {
		out += " of " + strconv.Itoa(total)
	}
	if len(parts) > 0 {
		out += " (" + strings.Join(parts, ", ") + ")"
	}
	return out
}

// tableLines is the trials' table: id, state, the searched params, the
// iteration, the metric and a few others, and the note; running trials
// first, at most maxStatusRows, and a line counting the others.
func tableLines(s statusSnapshot) []string {
	rows := orderRows(s.Rows)
	shown := rows[:min(len(rows), maxStatusRows)]

	params := paramColumns(shown)
	labels := shortPaths(params)
	metrics := metricColumns(shown, s.Metric)
	hasNote := slices.ContainsFunc(shown, func(r statusRow) bool { return r.Note != "" })

	header := []string{"Trial", "Status"}
	header = append(header, labels...)
	header = append(header, "iter")
	header = append(header, metrics...)
	if hasNote {
		header = append(header, "Note")
	}
	cells := [][]string{header}
	for _, row := range shown {
		line := []string{clean(row.ID), clean(string(row.State))}
		for _, p := range params {
			v, ok := row.Params[p]
			if !ok {
				line = append(line, "")
				continue
			}
			line = append(line, formatCompact(v))
		}
		it := ""
		if row.Iteration > 0 {
			it = strconv.Itoa(row.Iteration)
		}
		line = append(line, it)
		for _, m := range metrics {
			line = append(line, metricCell(row.Metrics, m))
		}
		if hasNote {
			line = append(line, cutRunes(clean(row.Note), maxNoteRunes))
		}
		cells = append(cells, line)
	}
	lines := alignColumns(cells)

	trials := len(rows)
	if sum := countSum(s.Counts); sum > trials {
		trials = sum
	}
	if more := trials - len(shown); more > 0 {
		lines = append(lines, fmt.Sprintf("... %d more trials", more))
	}
	return lines
}

// orderRows puts the running trials first, keeping the runner's order
// otherwise (the most recent first).
func orderRows(rows []statusRow) []statusRow {
	out := make([]statusRow, 0, len(rows))
	for _, r := range rows {
		if r.State == Running {
			out = append(out, r)
		}
	}
	for _, r := range rows {
		if r.State != Running {
			out = append(out, r)
		}
	}
	return out
}

func countSum(counts map[TrialState]int) int {
	sum := 0
	for _, n := range counts {
		sum += n
	}
	return sum
}

// paramColumns are the params' paths, sorted, at most maxParamColumns.
func paramColumns(rows []statusRow) []string {
	set := map[string]bool{}
	for _, r := range rows {
		for p := range r.Params {
			set[p] = true
		}
	}
	paths := make([]string, 0, len(set))
	for p := range set {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	return paths[:min(len(paths), maxParamColumns)]
}

// metricColumns are the experiment's metric, then the others reported,
// sorted, at most maxOtherMetrics of them; training_iteration has its own
// column.
func metricColumns(rows []statusRow, metric string) []string {
	set := map[string]bool{}
	for _, r := range rows {
		for m := range r.Metrics {
			if m != metric && m != TrainingIteration {
				set[m] = true
			}
		}
	}
	others := make([]string, 0, len(set))
	for m := range set {
		others = append(others, m)
	}
	slices.Sort(others)
	others = others[:min(len(others), maxOtherMetrics)]
	if metric == "" {
		return others
	}
	return append([]string{metric}, others...)
}

// shortPaths names each path by its shortest suffix of whole keys that
// no other path shares: "model/lr" and "optim/lr" stay whole, a lone
// "model/hidden" becomes "hidden".
func shortPaths(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		keys := strings.Split(p, "/")
		out[i] = p
		for n := 1; n < len(keys); n++ {
			suffix := strings.Join(keys[len(keys)-n:], "/")
			unique := true
			for j, q := range paths {
				if j != i && (q == suffix || strings.HasSuffix(q, "/"+suffix)) {
					unique = false
					break
				}
			}
			if unique {
				out[i] = suffix
				break
			}
		}
		out[i] = clean(out[i])
	}
	return out
}

// alignColumns pads the cells into columns two spaces apart, with a rule
// of dashes under the first row (the header); a column of numbers is
// aligned right, any other left. Trailing spaces are dropped.
func alignColumns(cells [][]string) []string {
	if len(cells) == 0 {
		return nil
	}
	cols := len(cells[0])
	widths := make([]int, cols)
	numeric := make([]bool, cols)
	for c := range cols {
		numeric[c] = true
		for r, row := range cells {
			widths[c] = max(widths[c], utf8.RuneCountInString(row[c]))
			if r > 0 && row[c] != "" && !isNumber(row[c]) {
				numeric[c] = false
			}
		}
	}
	rule := make([]string, cols)
	for c, w := range widths {
		rule[c] = strings.Repeat("-", w)
	}
	cells = slices.Insert(cells, 1, rule)
	lines := make([]string, len(cells))
	for r, row := range cells {
		var b strings.Builder
		for c, cell := range row {
			if c > 0 {
				b.WriteString("  ")
			}
			pad := strings.Repeat(" ", widths[c]-utf8.RuneCountInString(cell))
			if numeric[c] {
				b.WriteString(pad + cell)
			} else {
				b.WriteString(cell + pad)
			}
		}
		lines[r] = strings.TrimRight(b.String(), " ")
	}
	return lines
}

func isNumber(s string) bool {
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}

// metricCell is a metric's value, compactly, or "" if absent.
func metricCell(m Metrics, name string) string {
	v, ok := m[name]
	if !ok {
		return ""
	}
	return formatCompact(v)
}

// formatParams writes params as "k=v, k=v", sorted by path, with the
// short names of the table, at most maxParamColumns of them.
func formatParams(params map[string]any) string {
	paths := make([]string, 0, len(params))
	for p := range params {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	paths = paths[:min(len(paths), maxParamColumns)]
	labels := shortPaths(paths)
	parts := make([]string, len(paths))
	for i, p := range paths {
		parts[i] = labels[i] + "=" + formatCompact(params[p])
	}
	return strings.Join(parts, ", ")
}

// formatCompact formats a value for the table: floats with 4 significant
// digits (%.4g), integers whole, anything else as fmt prints it.
func formatCompact(v any) string {
	switch x := v.(type) {
	case float64:
		return formatFloat4(x)
	case float32:
		return formatFloat4(float64(x))
	case string:
		return clean(x)
	case nil:
		return ""
	}
	if f, ok := toFloat(v); ok {
		// An integer type.
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return clean(fmt.Sprint(v))
}

func formatFloat4(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(f, 'g', 4, 64)
}

// formatElapsed writes d as hh:mm:ss.
func formatElapsed(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int64(d / time.Second)
	return fmt.Sprintf("%02d:%02d:%02d", s/3600, s/60%60, s%60)
}

// clean makes text safe for one line of a table: control characters
// (newlines, escape sequences from an error's text) become spaces.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

// cutRunes cuts s to n runes, ending with "…" when it cuts.
func cutRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n <= 1 {
		return string([]rune(s)[:n])
	}
	return string([]rune(s)[:n-1]) + "…"
}

package tune

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// sampleSnapshot is an experiment of 10 planned trials, 4 of them seen.
func sampleSnapshot() statusSnapshot {
	return statusSnapshot{
		Experiment: "spirals",
		Metric:     "loss",
		Mode:       Min,
		Elapsed:    65*time.Second + 400*time.Millisecond,
		Counts:     map[TrialState]int{Running: 2, Terminated: 1, Errored: 1},
		Total:      10,
		Best: &statusRow{ID: "t0002", State: Terminated, Iteration: 12,
			Params: map[string]any{"optim/lr": 0.012345, "model/hidden": int64(32)}, Metrics: Metrics{"loss": 0.0712345, "acc": 0.98}},
		Rows: []statusRow{
			{ID: "t0002", State: Terminated, Iteration: 12, Params: map[string]any{"optim/lr": 0.012345, "model/hidden": int64(32)},
				Metrics: Metrics{"loss": 0.0712345, "acc": 0.98}, Note: "stop: max iterations"},
			{ID: "t0003", State: Running, Iteration: 4, Params: map[string]any{"optim/lr": 0.3, "model/hidden": int64(8)},
				Metrics: Metrics{"loss": 0.5, "acc": 0.75, TrainingIteration: 4}},
			{ID: "t0001", State: Errored, Iteration: 2, Params: map[string]any{"optim/lr": 5.0, "model/hidden": int64(64)},
				Metrics: Metrics{"loss": 1e9}, Note: "tune: trial failed:\nloss is \x1b[31mNaN"},
			{ID: "t0004", State: Running, Params: map[string]any{"optim/lr": 0.001, "model/hidden": int64(16)}},
		},
		Resources: "2/2 CPU, 0/0 GPU",
	}
}

const sampleStatus = `== Tune status: spirals, running for 00:01:05 ==
Resources: 2/2 CPU, 0/0 GPU
Trials: 4 of 10 (2 RUNNING, 1 TERMINATED, 1 ERROR)
Best: t0002 loss=0.07123 (hidden=32, lr=0.01235) at iteration 12
`

const sampleTable = `Trial  Status      hidden       lr  iter     loss   acc  Note
-----  ----------  ------  -------  ----  -------  ----  ------------------------------------
t0003  RUNNING          8      0.3     4      0.5  0.75
t0004  RUNNING         16    0.001
t0002  TERMINATED      32  0.01235    12  0.07123  0.98  stop: max iterations
t0001  ERROR           64        5     2    1e+09        tune: trial failed: loss is  [31mNaN
`

func TestReporterPlain(t *testing.T) {
	var buf bytes.Buffer
	r := newReporter(&buf, false, 0)
	if r.interval != 30*time.Second {
		t.Fatalf("default plain interval = %v; want 30s", r.interval)
	}
	s := sampleSnapshot()
	t0 := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	steps := []struct {
		at   time.Duration
		want string
	}{
		{0, sampleStatus}, // the first update always writes
		{10 * time.Second, ""},
		{29 * time.Second, ""},
		{30 * time.Second, sampleStatus},
		{59 * time.Second, ""},
	}
	for _, st := range steps {
		buf.Reset()
		r.update(s, t0.Add(st.at))
		if got := buf.String(); got != st.want {
			t.Fatalf("update at +%v wrote:\n%q\nwant:\n%q", st.at, got, st.want)
		}
	}
	buf.Reset()
	r.final(s)
	if got, want := buf.String(), sampleStatus+sampleTable; got != want {
		t.Fatalf("final wrote:\n%s\nwant:\n%s", got, want)
	}
}

func TestReporterTTY(t *testing.T) {
	var buf bytes.Buffer
	r := newReporter(&buf, true, 0)
	if r.interval != time.Second || r.width != 0 {
		t.Fatalf("a fake terminal: interval %v, width %d; want 1s and no width", r.interval, r.width)
	}
	s := sampleSnapshot()
	t0 := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	full := sampleStatus + sampleTable
	lines := strings.Count(full, "\n")
	erase := fmt.Sprintf("\x1b[%dA\r\x1b[J", lines)

	r.update(s, t0)
	if got := buf.String(); got != full {
		t.Fatalf("first draw:\n%q\nwant:\n%q", got, full)
	}
	buf.Reset()
	r.update(s, t0.Add(500*time.Millisecond))
	if buf.Len() != 0 {
		t.Fatalf("a redraw within the interval wrote %q", buf.String())
	}
	// A redraw moves up over the table, clears to the end of the screen
	// and draws the new table.
	s.Elapsed += time.Second
	r.update(s, t0.Add(time.Second))
	redrawn := strings.Replace(full, "00:01:05", "00:01:06", 1)
	if got := buf.String(); got != erase+redrawn {
		t.Fatalf("redraw:\n%q\nwant:\n%q", got, erase+redrawn)
	}
	// A shorter table next: still moves up over the whole previous one.
	buf.Reset()
	short := s
	short.Rows = s.Rows[:1]
	short.Metric = ""
	r.update(short, t0.Add(2*time.Second))
	if got := buf.String(); !strings.HasPrefix(got, erase) || strings.Count(got, "\n") != 7 {
		t.Fatalf("redraw of a shorter table:\n%q", got)
	}
	// final replaces the live table and stays.
	buf.Reset()
	r.final(s)
	if got, want := buf.String(), "\x1b[7A\r\x1b[J"+redrawn; got != want {
		t.Fatalf("final:\n%q\nwant:\n%q", got, want)
	}
	if r.liveLines != 0 {
		t.Fatalf("after final, liveLines = %d; want 0", r.liveLines)
	}
}

func TestReporterTTYWidth(t *testing.T) {
	var buf bytes.Buffer
	r := newReporter(&buf, true, time.Second)
	r.width = 40
	r.update(sampleSnapshot(), time.Unix(0, 0))
	r.final(sampleSnapshot())
	text := strings.ReplaceAll(buf.String(), "\x1b[10A\r\x1b[J", "")
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) != 20 {
		t.Fatalf("wrote %d lines; want 2 × 10:\n%s", len(lines), text)
	}
	for _, l := range lines {
		if n := utf8.RuneCountInString(l); n > 39 {
			t.Fatalf("line of %d runes on a 40-column terminal: %q", n, l)
		}
	}
	if want := "Trial  Status      hidden       lr  it…"; lines[4] != want {
		t.Fatalf("header cut to %q; want %q", lines[4], want)
	}
}

func TestStatusTableLimits(t *testing.T) {
	s := statusSnapshot{Metric: "score", Counts: map[TrialState]int{Terminated: 27, Running: 3}}
	params := map[string]any{}
	for _, k := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		params[k] = 1
	}
	for i := range 25 {
		st := Terminated
		if i >= 22 {
			st = Running
		}
		s.Rows = append(s.Rows, statusRow{ID: fmt.Sprintf("t%02d", i), State: st, Params: params, Iteration: 1,
			Metrics: Metrics{"score": float64(i), "m1": 1, "m2": 2, "m3": 3, "m4": 4}})
	}
	lines := tableLines(s)
	if len(lines) != 2+maxStatusRows+1 {
		t.Fatalf("%d lines; want header, rule, %d rows and a count:\n%s", len(lines), maxStatusRows, strings.Join(lines, "\n"))
	}
	if want := "Trial  Status      a  b  c  d  e  f  iter  score  m1  m2  m3"; lines[0] != want {
		t.Fatalf("header %q; want %q", lines[0], want)
	}
	for i, id := range []string{"t22", "t23", "t24", "t00"} {
		if !strings.HasPrefix(lines[2+i], id+" ") {
			t.Fatalf("row %d is %q; want trial %s (running first, then in the runner's order)", i, lines[2+i], id)
		}
	}
	// 30 trials counted, 20 shown.
	if last := lines[len(lines)-1]; last != "... 10 more trials" {
		t.Fatalf("last line %q; want the count of the trials not shown", last)
	}
}

func TestShortPaths(t *testing.T) {
	tests := []struct {
		paths, want []string
	}{
		{[]string{"lr"}, []string{"lr"}},
		{[]string{"model/hidden", "optim/lr"}, []string{"hidden", "lr"}},
		{[]string{"model/lr", "optim/lr"}, []string{"model/lr", "optim/lr"}},
		{[]string{"a/x/lr", "b/x/lr", "c/y/lr"}, []string{"a/x/lr", "b/x/lr", "y/lr"}},
		{[]string{"lr", "optim/lr"}, []string{"lr", "optim/lr"}},
	}
	for _, tt := range tests {
		got := shortPaths(tt.paths)
		if strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("shortPaths(%q) = %q; want %q", tt.paths, got, tt.want)
		}
	}
}

func TestStatusFormatting(t *testing.T) {
	tests := []struct {
		name, got, want string
	}{
		{"float", formatCompact(0.000123456), "0.0001235"},
		{"big float", formatCompact(123456.0), "1.235e+05"},
		{"whole float", formatCompact(32.0), "32"},
		{"int64", formatCompact(int64(123456)), "123456"},
		{"int", formatCompact(-7), "-7"},
		{"string", formatCompact("relu\n"), "relu "},
		{"bool", formatCompact(true), "true"},
		{"NaN", formatCompact(math.NaN()), "NaN"},
		{"-Inf", formatCompact(math.Inf(-1)), "-Inf"},
		{"elapsed", formatElapsed(26*time.Hour + 3*time.Minute + 4500*time.Millisecond), "26:03:04"},
		{"negative elapsed", formatElapsed(-time.Second), "00:00:00"},
		{"no counts", formatCounts(nil, 0), "0"},
		{"counts of total", formatCounts(map[TrialState]int{Pending: 3, Paused: 1, Running: 0}, 8), "4 of 8 (3 PENDING, 1 PAUSED)"},
		{"unknown states last", formatCounts(map[TrialState]int{"ZOMBIE": 1, "ALIVE": 2, Errored: 1}, 0), "4 (1 ERROR, 2 ALIVE, 1 ZOMBIE)"},
		{"cut", cutRunes("ééééé", 3), "éé…"},
		{"no cut", cutRunes("abc", 3), "abc"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: %q; want %q", tt.name, tt.got, tt.want)
		}
	}
	noMetric := statusLines(statusSnapshot{})
	if strings.Join(noMetric, "|") != "== Tune status: experiment, running for 00:00:00 ==|Trials: 0" {
		t.Errorf("status of an empty snapshot: %q", noMetric)
	}
	noBest := statusLines(statusSnapshot{Metric: "loss"})
	if noBest[len(noBest)-1] != "Best: none yet" {
		t.Errorf("status without a best trial: %q", noBest)
	}
}

func TestIsTerminal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, w := range []io.Writer{&bytes.Buffer{}, f} {
		if isTerminal(w) {
			t.Errorf("isTerminal(%T) = true", w)
		}
	}
	if terminalWidth(f) != 0 || terminalWidth(&bytes.Buffer{}) != 0 {
		t.Errorf("terminalWidth of a file or buffer is not 0")
	}
}

package progress_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/rayo-dev/rayo/data/internal/progress"
)

// syncBuffer is a bytes.Buffer the test reads while a Reporter's
// goroutine writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var lineRE = regexp.MustCompile(`^data progress: (.+): (\d+) rows, (\d+) blocks, ([0-9.]+[kMG]?) rows/s, store (.+) \((running|done)\)$`)

type line struct {
	op           string
	rows, blocks int64
	store        string
	done         bool
}

func parseLines(t *testing.T, out string) []line {
	t.Helper()
	var ls []line
	for _, s := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if s == "" || strings.HasPrefix(s, "data progress: finished in ") {
			continue
		}
		m := lineRE.FindStringSubmatch(s)
		if m == nil {
			t.Fatalf("unparsed line %q", s)
		}
		rows, _ := strconv.ParseInt(m[2], 10, 64)
		blocks, _ := strconv.ParseInt(m[3], 10, 64)
		ls = append(ls, line{m[1], rows, blocks, m[5], m[6] == "done"})
	}
	return ls
}

// tick makes the Reporter write one period's lines, and returns once they
// are written (the second send waits for the first period's work).
func tick(ticks chan any) {
	ticks <- 1
	ticks <- 1
}

func TestLines(t *testing.T) {
	var out syncBuffer
	ticks := make(chan any)
	r := progress.New(&out, progress.Lines, []string{"ReadParquet", "MapBatches(f)"}, progress.WithTicks(progress.Options{}, ticks))
	defer r.Close()
	if r.Mode() != progress.Lines {
		t.Fatalf("mode %v", r.Mode())
	}
	tick(ticks)
	if out.String() != "" {
		t.Fatalf("lines before any figures: %q", out.String())
	}
	r.Update(progress.Stats{Op: "ReadParquet", Rows: 1000, Blocks: 2, StoreBytes: 3 << 20})
	r.Update(progress.Stats{Op: "MapBatches(f)", Rows: 10, Blocks: 1, StoreBytes: 512})
	tick(ticks)
	got := parseLines(t, out.String())
	want := []line{{"ReadParquet", 1000, 2, "3.0 MiB", false}, {"MapBatches(f)", 10, 1, "512.0 b", false}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	// Only what changed gets a line.
	r.Update(progress.Stats{Op: "ReadParquet", Rows: 2000, Blocks: 4, Done: true})
	tick(ticks)
	got = parseLines(t, out.String())
	if len(got) != 3 || got[2] != (line{"ReadParquet", 2000, 4, "0.0 b", true}) {
		t.Fatalf("after a change: %v", got)
	}
	r.Close()
	all := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	last := all[len(all)-1]
	if !regexp.MustCompile(`^data progress: finished in [0-9.]+[µnm]?s: ReadParquet: 2000 rows, 4 blocks, [0-9.]+[kMG]? rows/s; MapBatches\(f\): 10 rows, 1 blocks, [0-9.]+[kMG]? rows/s, stopped$`).MatchString(last) {
		t.Fatalf("summary %q", last)
	}
	// After Close: nothing more.
	r.Update(progress.Stats{Op: "ReadParquet", Rows: 5})
	r.Close()
	if s := out.String(); !strings.HasSuffix(s, last+"\n") {
		t.Fatalf("written after Close: %q", s)
	}
}

// failWriter fails the test on any write.
type failWriter struct{ t *testing.T }

func (w failWriter) Write(p []byte) (int, error) {
	w.t.Errorf("quiet mode wrote %q", p)
	return len(p), nil
}

func TestQuiet(t *testing.T) {
	r := progress.New(failWriter{t}, progress.Quiet, []string{"a", "b"}, progress.Options{})
	r.Update(progress.Stats{Op: "a", Rows: 1})
	r.Update(progress.Stats{Op: "c", Rows: 1, Done: true})
	r.Close()
	// goleak (TestMain) checks it started nothing.
}

func TestAuto(t *testing.T) {
	var buf bytes.Buffer
	r := progress.New(&buf, progress.Auto, nil, progress.Options{})
	if r.Mode() != progress.Lines {
		t.Errorf("Auto on a buffer: %v, want lines", r.Mode())
	}
	r.Close()
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r = progress.New(f, progress.Auto, nil, progress.Options{})
	if r.Mode() != progress.Lines {
		t.Errorf("Auto on a file: %v, want lines", r.Mode())
	}
	r.Close()
	for m, s := range map[progress.Mode]string{progress.Auto: "auto", progress.Bars: "bars", progress.Lines: "lines", progress.Quiet: "quiet"} {
		if m.String() != s {
			t.Errorf("%d: %q", m, m.String())
		}
	}
}

// lastFrame is the last frame mpb drew: what follows its last
// cursor-up-and-erase.
func lastFrame(out string) string {
	if i := strings.LastIndex(out, "\x1b[J"); i >= 0 {
		return out[i+len("\x1b[J"):]
	}
	return out
}

func TestBars(t *testing.T) {
	var out syncBuffer
	ticks := make(chan any)
	ops := []string{"ReadParquet", "MapBatches(f)"}
	r := progress.New(&out, progress.Bars, ops, progress.WithTicks(progress.Options{Width: 100}, ticks))
	if r.Mode() != progress.Bars {
		t.Fatalf("mode %v", r.Mode())
	}
	r.Update(progress.Stats{Op: "ReadParquet", Rows: 1000, Blocks: 2, StoreBytes: 3 << 20})
	tick(ticks)
	r.Update(progress.Stats{Op: "ReadParquet", Rows: 2000, Blocks: 4, StoreBytes: 1 << 20, Done: true})
	r.Update(progress.Stats{Op: "MapBatches(f)", Rows: 500, Blocks: 1, TotalRows: 2000})
	r.Update(progress.Stats{Op: "Write", Rows: 7, Blocks: 1}) // an operator New was not told of
	tick(ticks)
	r.Close()
	s := out.String()
	// In place: each frame after the first moves the cursor up over the
	// last one (2 bars, then 3) and erases it.
	if !strings.Contains(s, "\x1b[2A\x1b[J") {
		t.Fatalf("no redraw in place: %q", s)
	}
	frame := strings.Split(strings.TrimSuffix(lastFrame(s), "\n"), "\n")
	want := []struct {
		op, figures string
	}{
		{"ReadParquet", "2000 rows, 4 blocks, "},
		{"MapBatches(f)", "500 rows, 1 blocks, "},
		{"Write", "7 rows, 1 blocks, "},
	}
	if len(frame) != len(want) {
		t.Fatalf("last frame has %d lines, want one per operator: %q", len(frame), frame)
	}
	for i, w := range want {
		l := frame[i]
		if !strings.HasPrefix(l, w.op+" ") || !strings.Contains(l, w.figures) || !strings.Contains(l, " rows/s, store ") {
			t.Errorf("line %d: %q, want %s with %q", i, l, w.op, w.figures)
		}
		if len(l) > 100 {
			t.Errorf("line %d is %d wide, over the 100 asked: %q", i, len(l), l)
		}
	}
	if !strings.Contains(frame[0], "store 1.0 MiB") || !strings.Contains(frame[0], "[====") {
		t.Errorf("a done operator's bar: %q", frame[0])
	}
	// 500 of 2000 rows: a quarter of the bar filled.
	if i, j := strings.Index(frame[1], "["), strings.Index(frame[1], ">"); i < 0 || j < 0 || float64(j-i)/float64(strings.Index(frame[1], "]")-i) > 0.35 {
		t.Errorf("a quarter-done bar: %q", frame[1])
	}
}

// Close ends bars that are not done, even with no redraw ever asked.
func TestBarsCloseUnfinished(t *testing.T) {
	var out syncBuffer
	ticks := make(chan any)
	r := progress.New(&out, progress.Bars, []string{"a"}, progress.WithTicks(progress.Options{}, ticks))
	r.Update(progress.Stats{Op: "a", Rows: 3})
	r.Close()
	r.Close()
	r.Update(progress.Stats{Op: "a", Rows: 4})
}

func TestConcurrentUpdate(t *testing.T) {
	for _, mode := range []progress.Mode{progress.Lines, progress.Bars, progress.Quiet} {
		t.Run(mode.String(), func(t *testing.T) {
			var out syncBuffer
			ticks := make(chan any)
			ops := []string{"a", "b", "c", "d"}
			r := progress.New(&out, mode, ops, progress.WithTicks(progress.Options{Width: 120}, ticks))
			var wg sync.WaitGroup
			for _, op := range ops {
				wg.Go(func() {
					for i := int64(1); i <= 200; i++ {
						r.Update(progress.Stats{Op: op, Rows: i * 10, Blocks: i, StoreBytes: i << 10, Done: i == 200})
					}
				})
			}
			stop := make(chan struct{})
			ticked := make(chan struct{})
			if mode != progress.Quiet {
				go func() {
					defer close(ticked)
					for {
						select {
						case ticks <- 1:
						case <-stop:
							return
						}
					}
				}()
			} else {
				close(ticked)
			}
			wg.Wait()
			close(stop)
			<-ticked
			r.Close()
			s := out.String()
			switch mode {
			case progress.Lines:
				for _, op := range ops {
					if !strings.Contains(s, op+": 2000 rows, 200 blocks") {
						t.Errorf("summary lacks %s's totals: %q", op, s)
					}
				}
			case progress.Bars:
				frame := strings.Split(strings.TrimSuffix(lastFrame(s), "\n"), "\n")
				if len(frame) != len(ops) {
					t.Fatalf("%d lines: %q", len(frame), frame)
				}
				for i, op := range ops {
					if !strings.HasPrefix(frame[i], op+" ") || !strings.Contains(frame[i], "2000 rows, 200 blocks") {
						t.Errorf("%q", frame[i])
					}
				}
			case progress.Quiet:
				if s != "" {
					t.Errorf("quiet wrote %q", s)
				}
			}
		})
	}
}

func TestParseMode(t *testing.T) {
	for s, want := range map[string]progress.Mode{"": progress.Auto, "auto": progress.Auto, "Bars": progress.Bars, " lines ": progress.Lines, "QUIET": progress.Quiet} {
		if m, err := progress.ParseMode(s); err != nil || m != want {
			t.Errorf("ParseMode(%q) = %v, %v; want %v", s, m, err, want)
		}
	}
	for _, s := range []string{"bar", "verbose", "0"} {
		if _, err := progress.ParseMode(s); !errors.Is(err, progress.ErrMode) || !strings.Contains(err.Error(), strconv.Quote(s)) {
			t.Errorf("ParseMode(%q): %v", s, err)
		}
	}
	// A Mode none of the four is Auto: lines on a buffer.
	r := progress.New(&bytes.Buffer{}, progress.Mode(42), nil, progress.Options{})
	defer r.Close()
	if r.Mode() != progress.Lines {
		t.Errorf("Mode(42): %v", r.Mode())
	}
}

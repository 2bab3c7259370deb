package tune

// TEMPORARY stand-ins until the helpers' branches are merged.

import (
	"io"
	"time"
)

type statusSnapshot struct {
	Experiment string
	Metric     string
	Mode       Mode
	Elapsed    time.Duration
	Counts     map[TrialState]int
	Total      int
	Best       *statusRow
	Rows       []statusRow
	Resources  string
}
type statusRow struct {
	ID        string
	State     TrialState
	Params    map[string]any
	Iteration int
	Metrics   Metrics
	Note      string
}
type reporter struct{}

func newReporter(w io.Writer, tty bool, interval time.Duration) *reporter { return &reporter{} }
func isTerminal(w io.Writer) bool                                         { return false }
func (r *reporter) update(s statusSnapshot, now time.Time)                {}
func (r *reporter) final(s statusSnapshot)                                {}
func (g *ResultGrid) WriteCSV(w io.Writer) error                          { return nil }
func (g *ResultGrid) WriteJSON(w io.Writer) error                         { return nil }

type fifoStub struct{}

func FIFO() Scheduler                                     { return fifoStub{} }
func (fifoStub) Setup(string, Mode) error                 { return nil }
func (fifoStub) OnTrialAdd(TrialInfo)                     {}
func (fifoStub) OnTrialResult(TrialInfo, Result) Decision { return Decision{} }
func (fifoStub) OnTrialComplete(TrialInfo, *Result)       {}
func (fifoStub) OnTrialRemove(TrialInfo)                  {}
func (fifoStub) ChooseTrialToRun(w []TrialInfo) string {
	for _, t := range w {
		if t.State == Pending {
			return t.ID
		}
	}
	if len(w) > 0 {
		return w[0].ID
	}
	return ""
}

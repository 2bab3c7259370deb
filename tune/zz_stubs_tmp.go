package tune

// TEMPORARY stand-ins until the helpers' branches are merged.

import (
	"io"
	"math/rand/v2"
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

func resolve(params []Param, constants map[string]any, values map[string]any, rng *rand.Rand) (Params, error) {
	flat := map[string]any{}
	for k, v := range constants {
		flat[k] = v
	}
	for _, p := range params {
		if v, ok := values[p.Path]; ok {
			flat[p.Path] = v
		} else if p.Domain.kind != KindSampleFrom {
			flat[p.Path] = p.Domain.Sample(rng)
		}
	}
	return unflatten(flat), nil
}

type BasicConfig struct{}
type basicStub struct {
	n, i   int
	params []Param
	seed   int64
}

func BasicVariantGenerator(BasicConfig) *basicStub { return &basicStub{} }
func (b *basicStub) Setup(c SearchConfig) error {
	b.n = c.NumSamples
	b.params = c.Params
	return nil
}
func (b *basicStub) Total() int { return b.n }
func (b *basicStub) Suggest(id string) (map[string]any, error) {
	if b.i >= b.n {
		return nil, ErrSearchFinished
	}
	rng := rand.New(rand.NewPCG(uint64(b.seed), uint64(b.i)))
	b.i++
	out := map[string]any{}
	for _, p := range b.params {
		if p.Domain.kind != KindSampleFrom {
			out[p.Path] = p.Domain.Sample(rng)
		}
	}
	return out, nil
}
func (b *basicStub) OnTrialResult(string, Result)          {}
func (b *basicStub) OnTrialComplete(string, *Result, bool) {}

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

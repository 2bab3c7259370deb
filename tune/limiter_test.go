package tune

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
)

// recordingSearcher suggests {"n": k} for its k-th suggestion, up to
// limit (then ErrSearchFinished; nothing while paused), and records every
// call it gets.
type recordingSearcher struct {
	cfg    SearchConfig
	limit  int
	paused bool
	next   int
	calls  []string
}

func (r *recordingSearcher) Setup(cfg SearchConfig) error {
	r.cfg = cfg
	r.calls = append(r.calls, fmt.Sprintf("setup n=%d", cfg.NumSamples))
	return nil
}

func (r *recordingSearcher) Suggest(id string) (map[string]any, error) {
	if r.paused {
		return nil, nil
	}
	if r.next >= r.limit {
		return nil, ErrSearchFinished
	}
	r.next++
	r.calls = append(r.calls, "suggest "+id)
	return map[string]any{"n": r.next}, nil
}

func (r *recordingSearcher) OnTrialResult(id string, _ Result) {
	r.calls = append(r.calls, "result "+id)
}

func (r *recordingSearcher) OnTrialComplete(id string, _ *Result, failed bool) {
	r.calls = append(r.calls, fmt.Sprintf("complete %s failed=%v", id, failed))
}

// adderSearcher is a recordingSearcher that also learns of added trials.
type adderSearcher struct{ recordingSearcher }

func (a *adderSearcher) AddTrial(id string, values map[string]any) {
	a.calls = append(a.calls, fmt.Sprintf("add %s %v", id, values))
}

func (r *recordingSearcher) takeCalls() []string {
	c := r.calls
	r.calls = nil
	return c
}

// A limiter script step: suggest a trial (expecting values or not),
// report a result, or complete a trial.
type scriptStep struct {
	op      string // "suggest", "result", "complete"
	trial   string
	suggest bool     // suggest: whether values are expected
	inner   []string // calls the inner searcher gets from this step
}

func runLimiterScript(t *testing.T, l Searcher, inner *recordingSearcher, steps []scriptStep) {
	t.Helper()
	for i, s := range steps {
		switch s.op {
		case "suggest":
			v, err := l.Suggest(s.trial)
			if err != nil {
				t.Fatalf("step %d: Suggest(%s): %v", i, s.trial, err)
			}
			if (v != nil) != s.suggest {
				t.Fatalf("step %d: Suggest(%s) = %v, want values: %v", i, s.trial, v, s.suggest)
			}
		case "result":
			l.OnTrialResult(s.trial, Result{TrialID: s.trial})
		case "complete":
			l.OnTrialComplete(s.trial, nil, false)
		}
		if got := inner.takeCalls(); !reflect.DeepEqual(got, s.inner) {
			t.Fatalf("step %d (%s %s): inner got %q, want %q", i, s.op, s.trial, got, s.inner)
		}
	}
}

func TestConcurrencyLimiter(t *testing.T) {
	tests := []struct {
		name   string
		max    int
		batch  bool
		paused func(i int) bool // pauses the inner searcher before step i
		steps  []scriptStep
	}{
		{"at most two live", 2, false, nil, []scriptStep{
			{"suggest", "t1", true, []string{"suggest t1"}},
			{"suggest", "t2", true, []string{"suggest t2"}},
			{"suggest", "t3", false, nil},
			{"result", "t1", false, []string{"result t1"}},
			{"suggest", "t3", false, nil},
			{"complete", "t1", false, []string{"complete t1 failed=false"}},
			{"suggest", "t3", true, []string{"suggest t3"}},
			{"suggest", "t4", false, nil},
			{"complete", "t3", false, []string{"complete t3 failed=false"}},
			{"complete", "t2", false, []string{"complete t2 failed=false"}},
			{"suggest", "t4", true, []string{"suggest t4"}},
		}},
		{"batch waits for the whole batch", 2, true, nil, []scriptStep{
			{"suggest", "t1", true, []string{"suggest t1"}},
			{"suggest", "t2", true, []string{"suggest t2"}},
			{"suggest", "t3", false, nil},
			{"result", "t2", false, []string{"result t2"}},
			{"complete", "t2", false, nil},
			{"suggest", "t3", false, nil},
			{"complete", "t1", false, []string{"complete t2 failed=false", "complete t1 failed=false"}},
			{"suggest", "t3", true, []string{"suggest t3"}},
			{"suggest", "t4", true, []string{"suggest t4"}},
			{"suggest", "t5", false, nil},
		}},
		{"a partial batch ends when its trials end", 3, true, func(i int) bool { return i >= 1 && i < 4 }, []scriptStep{
			{"suggest", "t1", true, []string{"suggest t1"}},
			{"suggest", "t2", false, nil}, // the inner searcher waits
			{"complete", "t1", false, []string{"complete t1 failed=false"}},
			{"suggest", "t2", false, nil},
			{"suggest", "t2", true, []string{"suggest t2"}},
		}},
		{"a batch's partial completion blocks new trials", 3, true, nil, []scriptStep{
			{"suggest", "t1", true, []string{"suggest t1"}},
			{"suggest", "t2", true, []string{"suggest t2"}},
			{"complete", "t1", false, nil},
			{"suggest", "t3", false, nil},
			{"complete", "t2", false, []string{"complete t1 failed=false", "complete t2 failed=false"}},
			{"suggest", "t3", true, []string{"suggest t3"}},
		}},
		{"unknown trials pass through", 1, true, nil, []scriptStep{
			{"suggest", "t1", true, []string{"suggest t1"}},
			{"complete", "restored", false, []string{"complete restored failed=false"}},
			{"suggest", "t2", false, nil},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inner := &recordingSearcher{limit: 100}
			l := ConcurrencyLimiter(inner, tt.max, tt.batch)
			if err := l.Setup(SearchConfig{NumSamples: 100}); err != nil {
				t.Fatal(err)
			}
			inner.takeCalls()
			for i, s := range tt.steps {
				inner.paused = tt.paused != nil && tt.paused(i)
				runLimiterScript(t, l, inner, []scriptStep{s})
			}
		})
	}
}

func TestConcurrencyLimiterPassesOnTheEnd(t *testing.T) {
	inner := &recordingSearcher{limit: 1}
	l := ConcurrencyLimiter(inner, 4, false)
	if err := l.Setup(SearchConfig{NumSamples: 1}); err != nil {
		t.Fatal(err)
	}
	if got := suggestAll(t, l, 10); len(got) != 1 {
		t.Fatalf("%d suggestions, want 1", len(got))
	}
	// ErrSearchFinished does not count as a live trial.
	if v, err := l.Suggest("t9"); !errors.Is(err, ErrSearchFinished) || v != nil {
		t.Errorf("after the end: %v, %v", v, err)
	}
}

func TestConcurrencyLimiterRefusesBadSettings(t *testing.T) {
	for _, max := range []int{0, -1} {
		err := ConcurrencyLimiter(&recordingSearcher{}, max, false).Setup(SearchConfig{})
		if !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("max %d: Setup = %v, want ErrInvalidConfig", max, err)
		}
	}
	if err := ConcurrencyLimiter(nil, 1, false).Setup(SearchConfig{}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("nil searcher: Setup = %v", err)
	}
}

func TestConcurrencyLimiterForwardsAddTrialAndTotal(t *testing.T) {
	inner := &adderSearcher{recordingSearcher{limit: 5}}
	l := ConcurrencyLimiter(inner, 1, false)
	adder, ok := l.(TrialAdder)
	if !ok {
		t.Fatal("the limiter is not a TrialAdder")
	}
	adder.AddTrial("old", map[string]any{"n": 0})
	if got := inner.takeCalls(); !reflect.DeepEqual(got, []string{"add old map[n:0]"}) {
		t.Errorf("inner got %q", got)
	}
	// An inner searcher without AddTrial is spared the call.
	ConcurrencyLimiter(&recordingSearcher{}, 1, false).(TrialAdder).AddTrial("old", nil)

	b := setupBasic(t, BasicConfig{}, Space{"g": GridSearch(1, 2)}, 3, 1)
	if total := ConcurrencyLimiter(b, 1, false).(interface{ Total() int }).Total(); total != 6 {
		t.Errorf("Total() = %d, want the inner searcher's 6", total)
	}
}

package tune

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"time"
)

// Scope says which of a trial's results count when trials are compared
// on a metric (Ray's scope argument of ResultGrid.get_best_result and
// ExperimentAnalysis.get_best_trial, plus the "max" and "min" columns of
// Ray's metric analysis).
type Scope string

const (
	// ScopeLast: the metric's latest value.
	ScopeLast Scope = "last"
	// ScopeAvg: the mean of all its values.
	ScopeAvg Scope = "avg"
	// ScopeMax, ScopeMin: its largest or smallest value, whatever the mode.
	ScopeMax Scope = "max"
	ScopeMin Scope = "min"
	// ScopeLast5Avg, ScopeLast10Avg: the mean of its last 5 or 10 values
	// (of all of them if there are fewer).
	ScopeLast5Avg  Scope = "last-5-avg"
	ScopeLast10Avg Scope = "last-10-avg"
	// ScopeAll: its best value by the mode (the largest for Max, the
	// smallest for Min), as Ray's "all".
	ScopeAll Scope = "all"
)

// Validate returns an ErrInvalidConfig unless s is one of the scopes.
func (s Scope) Validate() error {
	switch s {
	case ScopeLast, ScopeAvg, ScopeMax, ScopeMin, ScopeLast5Avg, ScopeLast10Avg, ScopeAll:
		return nil
	}
	return fmt.Errorf("%w: scope %q: want one of %q, %q, %q, %q, %q, %q, %q", ErrInvalidConfig, s,
		ScopeLast, ScopeAvg, ScopeMax, ScopeMin, ScopeLast5Avg, ScopeLast10Avg, ScopeAll)
}

// Len is the number of trials (len(ResultGrid) in Ray).
func (g *ResultGrid) Len() int { return len(g.Trials) }

// Errors returns the errors of the trials that failed, in trial order
// (Ray's ResultGrid.errors).
func (g *ResultGrid) Errors() []error {
	var errs []error
	for _, t := range g.Trials {
		if t != nil && t.Err != nil {
			errs = append(errs, t.Err)
		}
	}
	return errs
}

// Best returns the trial with the best score of metric under mode and
// scope (Ray's ResultGrid.get_best_result). An empty metric or mode is
// the grid's; an empty scope is ScopeLast. Trials that never reported the
// metric, or whose score is NaN or infinite, are skipped (Ray's
// filter_nan_and_inf); of equal scores the earlier trial wins. It returns
// ErrNoResults if no trial is left and ErrInvalidConfig for a missing
// metric or a bad mode or scope.
func (g *ResultGrid) Best(metric string, mode Mode, scope Scope) (*TrialResult, error) {
	if metric == "" {
		metric = g.Metric
	}
	if mode == "" {
		mode = g.Mode
	}
	if scope == "" {
		scope = ScopeLast
	}
	if metric == "" {
		return nil, fmt.Errorf("%w: Best needs a metric: give one or set the experiment's", ErrInvalidConfig)
	}
	if err := mode.Validate(); err != nil {
		return nil, err
	}
	if err := scope.Validate(); err != nil {
		return nil, err
	}
	var best *TrialResult
	var bestScore float64
	for _, t := range g.Trials {
		if t == nil {
			continue
		}
		s, ok := t.Score(metric, mode, scope)
		if !ok || math.IsNaN(s) || math.IsInf(s, 0) {
			continue
		}
		if best == nil || mode.Better(s, bestScore) {
			best, bestScore = t, s
		}
	}
	if best == nil {
		return nil, fmt.Errorf("%w: %q (scope %q) in %d trials", ErrNoResults, metric, scope, len(g.Trials))
	}
	return best, nil
}

// Score is the trial's score of metric under scope, from its History (or
// Last if it has no history); mode matters for ScopeAll only. The metric
// may be one Tune adds (training_iteration, time_total_s). ok is false if
// the trial never reported the metric or scope or mode is bad.
func (t *TrialResult) Score(metric string, mode Mode, scope Scope) (float64, bool) {
	values := t.metricValues(metric)
	if len(values) == 0 {
		return 0, false
	}
	switch scope {
	case ScopeLast:
		return values[len(values)-1], true
	case ScopeAvg:
		return mean(values), true
	case ScopeLast5Avg:
		return mean(values[max(0, len(values)-5):]), true
	case ScopeLast10Avg:
		return mean(values[max(0, len(values)-10):]), true
	case ScopeMax:
		return extreme(values, Max), true
	case ScopeMin:
		return extreme(values, Min), true
	case ScopeAll:
		if mode.Validate() != nil {
			return 0, false
		}
		return extreme(values, mode), true
	}
	return 0, false
}

// metricValues returns the metric's values in report order.
func (t *TrialResult) metricValues(metric string) []float64 {
	results := t.History
	if len(results) == 0 && t.Last != nil {
		results = []Result{*t.Last}
	}
	var values []float64
	for _, r := range results {
		if v, ok := r.Value(metric); ok {
			values = append(values, v)
		}
	}
	return values
}

func mean(values []float64) float64 {
	var sum float64
	for _, v := range values {
		sum += v
	}
	return sum / float64(len(values))
}

// extreme returns the best value under mode; a NaN loses to any number
// (Mode.Better), so it is the answer only if every value is NaN.
func extreme(values []float64, mode Mode) float64 {
	best := values[0]
	for _, v := range values[1:] {
		if mode.Better(v, best) {
			best = v
		}
	}
	return best
}

// WriteCSV writes one row per trial, in trial order, as Ray's
// ResultGrid.get_dataframe: trial_id, state, iterations (the last
// result's training_iteration), each parameter as config/<path> (sorted),
// each metric of the trials' last results (the sorted union; empty where
// a trial lacks it), and error (the error text, or empty). Floats are in
// Go's shortest form ('g'); NaN and infinities as NaN, +Inf, -Inf.
func (g *ResultGrid) WriteCSV(w io.Writer) error {
	paramSet, metricSet := map[string]bool{}, map[string]bool{}
	flats := make([]map[string]any, len(g.Trials))
	for i, t := range g.Trials {
		if t == nil {
			continue
		}
		flats[i] = t.Params.Flat()
		for k := range flats[i] {
			paramSet[k] = true
		}
		if t.Last != nil {
			for k := range t.Last.Metrics {
				metricSet[k] = true
			}
		}
	}
	params, metrics := slices.Sorted(maps.Keys(paramSet)), slices.Sorted(maps.Keys(metricSet))

	cw := csv.NewWriter(w)
	header := []string{"trial_id", "state", "iterations"}
	for _, p := range params {
		header = append(header, "config/"+p)
	}
	header = append(header, metrics...)
	header = append(header, "error")
	if err := cw.Write(header); err != nil {
		return err
	}
	for i, t := range g.Trials {
		if t == nil {
			continue
		}
		row := []string{t.ID, string(t.State), ""}
		if t.Last != nil {
			row[2] = strconv.Itoa(t.Last.Iteration)
		}
		for _, p := range params {
			v, ok := flats[i][p]
			if !ok {
				row = append(row, "")
				continue
			}
			row = append(row, formatValue(v))
		}
		for _, m := range metrics {
			cell := ""
			if t.Last != nil {
				if v, ok := t.Last.Metrics[m]; ok {
					cell = formatFloat(v)
				}
			}
			row = append(row, cell)
		}
		errText := ""
		if t.Err != nil {
			errText = t.Err.Error()
		}
		row = append(row, errText)
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// formatValue formats a parameter's value for a CSV cell.
func formatValue(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return formatFloat(x)
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// trialJSON is a trial as WriteJSON writes it.
type trialJSON struct {
	ID             string           `json:"id"`
	State          TrialState       `json:"state"`
	Config         any              `json:"config"`
	Error          string           `json:"error,omitempty"`
	Path           string           `json:"path,omitempty"`
	Failures       int              `json:"failures,omitempty"`
	Last           *resultJSON      `json:"last_result"`
	History        []resultJSON     `json:"history"`
	Checkpoint     string           `json:"checkpoint,omitempty"`
	BestCheckpoint string           `json:"best_checkpoint,omitempty"`
	Decisions      []DecisionRecord `json:"decisions"`
}

// resultJSON is a Result with its durations in seconds and its
// non-finite metrics as strings, which JSON cannot hold as numbers.
type resultJSON struct {
	Iteration    int            `json:"training_iteration"`
	TimeTotal    float64        `json:"time_total_s"`
	TimeThisIter float64        `json:"time_this_iter_s"`
	Timestamp    string         `json:"timestamp,omitempty"`
	Metrics      map[string]any `json:"metrics"`
	Checkpoint   bool           `json:"checkpoint,omitempty"`
	Done         bool           `json:"done,omitempty"`
}

// WriteJSON writes the trials as an indented JSON array, in trial order:
// each trial's id, state, config, error text, path, failures, last
// result, history, checkpoint directories and decisions (what Ray keeps
// in a trial's directory as params.json, result.json and its
// checkpoints). Times are RFC 3339; durations are seconds
// (time_total_s); NaN and infinities, which JSON cannot hold, are the
// strings "NaN", "+Inf" and "-Inf".
func (g *ResultGrid) WriteJSON(w io.Writer) error {
	out := make([]trialJSON, 0, len(g.Trials))
	for _, t := range g.Trials {
		if t == nil {
			continue
		}
		tj := trialJSON{
			ID:             t.ID,
			State:          t.State,
			Config:         jsonSafe(t.Params),
			Path:           t.Path,
			Failures:       t.Failures,
			History:        make([]resultJSON, 0, len(t.History)),
			Checkpoint:     checkpointPath(t.Checkpoint),
			BestCheckpoint: checkpointPath(t.BestCheckpoint),
			Decisions:      t.Decisions,
		}
		if tj.Decisions == nil {
			tj.Decisions = []DecisionRecord{}
		}
		if t.Err != nil {
			tj.Error = t.Err.Error()
		}
		if t.Last != nil {
			r := toResultJSON(*t.Last)
			tj.Last = &r
		}
		for _, r := range t.History {
			tj.History = append(tj.History, toResultJSON(r))
		}
		out = append(out, tj)
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func toResultJSON(r Result) resultJSON {
	rj := resultJSON{
		Iteration:    r.Iteration,
		TimeTotal:    r.TimeTotal.Seconds(),
		TimeThisIter: r.TimeThisIter.Seconds(),
		Metrics:      make(map[string]any, len(r.Metrics)),
		Checkpoint:   r.Checkpoint,
		Done:         r.Done,
	}
	if !r.Timestamp.IsZero() {
		rj.Timestamp = r.Timestamp.Format(time.RFC3339Nano)
	}
	for k, v := range r.Metrics {
		rj.Metrics[k] = jsonSafe(v)
	}
	return rj
}

// checkpointPath is a checkpoint's directory on storage, or a directory
// checkpoint's path ("" for none).
func checkpointPath(c *Checkpoint) string {
	if c == nil {
		return ""
	}
	if c.stored != "" {
		return c.stored
	}
	dir, _ := c.Dir()
	return dir
}

// jsonSafe returns v with every non-finite float (at any depth of maps
// and slices) replaced by its text, so that encoding/json accepts it.
func jsonSafe(v any) any {
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return formatFloat(x)
		}
	case float32:
		return jsonSafe(float64(x))
	case Params:
		return jsonSafeMap(x)
	case map[string]any:
		return jsonSafeMap(x)
	case Space:
		return jsonSafeMap(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonSafe(e)
		}
		return out
	case []float64:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonSafe(e)
		}
		return out
	}
	return v
}

func jsonSafeMap(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	out := make(map[string]any, len(m))
	for k, e := range m {
		out[k] = jsonSafe(e)
	}
	return out
}

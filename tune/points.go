package tune

import (
	"fmt"
	"maps"
	"slices"
)

// PointsToEvaluate returns s preceded by configurations to try first
// (Ray's points_to_evaluate, Optuna's enqueue_trial): known good
// settings, or an earlier experiment's best. Each point is a nested
// Params (or paths as keys); a partial point gets its missing searchable
// values sampled from their domains (the prior, with a stream seeded by
// SearchConfig.Seed and the point's index), not from s. SampleFrom values
// are computed as for any trial. Points are checked against the space at
// Setup: an unknown path or a value outside its domain is an
// ErrInvalidConfig.
//
// The points count toward NumSamples: s is set up with NumSamples less
// the number of points (0 if there are more points, which all run), and
// learns of each point through TrialAdder (if it has it) before its
// results.
func PointsToEvaluate(s Searcher, points ...Params) Searcher {
	return &pointsSearcher{inner: s, points: points}
}

type pointsSearcher struct {
	inner  Searcher
	points []Params
	// values are the points by path, filled and checked at Setup.
	values []map[string]any
	next   int
	// innerSamples is the inner searcher's NumSamples (< 0: endless).
	innerSamples int
}

func (p *pointsSearcher) Setup(cfg SearchConfig) error {
	if p.inner == nil {
		return fmt.Errorf("%w: PointsToEvaluate: nil searcher", ErrInvalidConfig)
	}
	byPath := make(map[string]Param, len(cfg.Params))
	for _, param := range cfg.Params {
		byPath[param.Path] = param
	}
	p.values = make([]map[string]any, len(p.points))
	for i, point := range p.points {
		values := map[string]any{}
		if err := flattenPoint(point, "", byPath, values); err != nil {
			return fmt.Errorf("point %d: %w", i, err)
		}
		for path, v := range values {
			checked, err := checkValue(byPath[path], v)
			if err != nil {
				return fmt.Errorf("point %d: %w", i, err)
			}
			values[path] = checked
		}
		rng := streamRNG(cfg.Seed, streamPoint, uint64(i))
		for _, param := range cfg.Params {
			if _, given := values[param.Path]; !given && param.Domain.Kind() != KindSampleFrom {
				values[param.Path] = param.Domain.Sample(rng)
			}
		}
		p.values[i] = values
	}
	inner := cfg
	p.innerSamples = cfg.NumSamples
	if cfg.NumSamples >= 0 {
		p.innerSamples = max(cfg.NumSamples-len(p.points), 0)
		inner.NumSamples = p.innerSamples
	}
	p.next = 0
	return p.inner.Setup(inner)
}

// flattenPoint puts a point's values into out by path, down to the
// space's parameters: a parameter's value is taken whole, even a map (a
// Choice of maps).
func flattenPoint(m map[string]any, prefix string, byPath map[string]Param, out map[string]any) error {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		path := prefix + k
		v := m[k]
		if _, ok := byPath[path]; ok {
			out[path] = v
			continue
		}
		if sub, ok := asMap(v); ok {
			if err := flattenPoint(sub, path+"/", byPath, out); err != nil {
				return err
			}
			continue
		}
		return fmt.Errorf("%w: %q is not a parameter of the space", ErrInvalidConfig, path)
	}
	return nil
}

func (p *pointsSearcher) Suggest(trialID string) (map[string]any, error) {
	if p.next < len(p.values) {
		values := maps.Clone(p.values[p.next])
		p.next++
		if adder, ok := p.inner.(TrialAdder); ok {
			adder.AddTrial(trialID, maps.Clone(values))
		}
		return values, nil
	}
	if p.innerSamples == 0 {
		// Spare a searcher set up for no trial from being asked for one.
		return nil, ErrSearchFinished
	}
	return p.inner.Suggest(trialID)
}

func (p *pointsSearcher) OnTrialResult(trialID string, r Result) {
	p.inner.OnTrialResult(trialID, r)
}

func (p *pointsSearcher) OnTrialComplete(trialID string, r *Result, failed bool) {
	p.inner.OnTrialComplete(trialID, r, failed)
}

// AddTrial implements TrialAdder: it passes the trial on to the inner
// searcher if that has it.
func (p *pointsSearcher) AddTrial(trialID string, values map[string]any) {
	if adder, ok := p.inner.(TrialAdder); ok {
		adder.AddTrial(trialID, values)
	}
}

// Total is the number of points plus the inner searcher's Total (its
// NumSamples if it has no Total); -1 for an endless search.
func (p *pointsSearcher) Total() int {
	inner := p.innerSamples
	if t, ok := p.inner.(interface{ Total() int }); ok {
		inner = t.Total()
	}
	if inner < 0 {
		return -1
	}
	return len(p.points) + inner
}

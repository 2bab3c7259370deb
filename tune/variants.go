package tune

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
)

// BasicConfig configures BasicVariantGenerator.
type BasicConfig struct {
	// Seed seeds the random values; 0 takes SearchConfig.Seed.
	Seed int64
	// ConstantGridSearch (Ray's constant_grid_search) samples the random
	// values once per repetition of the grid and keeps them for every grid
	// point of it, so that grid points are compared on equal terms.
	ConstantGridSearch bool
}

// BasicSearcher is random and grid search (Ray's BasicVariantGenerator,
// Tune's default searcher). Make one with BasicVariantGenerator.
type BasicSearcher struct {
	cfg  BasicConfig
	seed int64
	// grids are the GridSearch params in Ray's order: sorted by key path,
	// the first varying fastest.
	grids []Param
	// random are the params sampled afresh for each trial, in path order;
	// SampleFrom params are left to the resolution of the trial's Params.
	random     []Param
	gridSize   int
	numSamples int // < 0: endless
	next       int
	ready      bool
}

// maxVariants bounds grid size × NumSamples, so that a typo (a grid of a
// million points squared) is an error rather than an overflow.
const maxVariants = 1 << 40

// BasicVariantGenerator returns random and grid search (Ray's
// BasicVariantGenerator): the cross product of every GridSearch of the
// space (the grid key first in path order varies fastest, as in Ray),
// made NumSamples times, each trial with fresh random values for the
// other domains. The trials come repetition by repetition: the whole
// grid, then the whole grid again. A negative NumSamples searches
// endlessly (Ray's num_samples=-1); 0 makes no trial. Trial i's random
// values come from a stream derived from (seed, i) alone, so a replay
// gives the same variants.
func BasicVariantGenerator(cfg BasicConfig) *BasicSearcher {
	return &BasicSearcher{cfg: cfg}
}

// Setup implements Searcher.
func (b *BasicSearcher) Setup(cfg SearchConfig) error {
	b.seed = b.cfg.Seed
	if b.seed == 0 {
		b.seed = cfg.Seed
	}
	b.grids, b.random = nil, nil
	b.gridSize = 1
	for _, p := range cfg.Params {
		if err := p.Domain.Err(); err != nil {
			return fmt.Errorf("%q: %w", p.Path, err)
		}
		switch p.Domain.Kind() {
		case 0:
			return fmt.Errorf("%w: %q: a zero Domain", ErrInvalidSpace, p.Path)
		case KindGrid:
			b.grids = append(b.grids, p)
			b.gridSize *= len(p.Domain.values)
			if b.gridSize > maxVariants {
				return fmt.Errorf("%w: the grid has more than %d points", ErrInvalidSpace, maxVariants)
			}
		case KindSampleFrom:
		default:
			b.random = append(b.random, p)
		}
	}
	slices.SortStableFunc(b.grids, func(x, y Param) int { return compareKeyPaths(x.Path, y.Path) })
	slices.SortStableFunc(b.random, func(x, y Param) int { return strings.Compare(x.Path, y.Path) })
	b.numSamples = cfg.NumSamples
	if b.numSamples > maxVariants/b.gridSize {
		return fmt.Errorf("%w: %d grid points × %d samples is more than %d trials", ErrInvalidConfig, b.gridSize, b.numSamples, maxVariants)
	}
	b.next = 0
	b.ready = true
	return nil
}

// compareKeyPaths orders paths as Ray sorts its grid variables: by their
// tuples of keys ("a/b" before "a-c", which a plain string sort reverses).
func compareKeyPaths(a, b string) int {
	return slices.Compare(strings.Split(a, "/"), strings.Split(b, "/"))
}

// Total is how many trials the search makes: grid size × NumSamples; -1
// for an endless search, 0 before Setup.
func (b *BasicSearcher) Total() int {
	if !b.ready {
		return 0
	}
	if b.numSamples < 0 {
		return -1
	}
	return b.gridSize * b.numSamples
}

// Suggest implements Searcher: the next variant's values by path.
func (b *BasicSearcher) Suggest(trialID string) (map[string]any, error) {
	if !b.ready {
		return nil, fmt.Errorf("%w: BasicVariantGenerator: Suggest before Setup", ErrInvalidConfig)
	}
	if b.numSamples >= 0 && b.next >= b.Total() {
		return nil, ErrSearchFinished
	}
	i := b.next
	b.next++
	repetition, point := i/b.gridSize, i%b.gridSize
	values := make(map[string]any, len(b.grids)+len(b.random))
	for _, p := range b.grids {
		n := len(p.Domain.values)
		values[p.Path] = p.Domain.values[point%n]
		point /= n
	}
	rng := streamRNG(b.seed, streamTrial, uint64(i))
	if b.cfg.ConstantGridSearch {
		rng = streamRNG(b.seed, streamRepetition, uint64(repetition))
	}
	for _, p := range b.random {
		values[p.Path] = p.Domain.Sample(rng)
	}
	return values, nil
}

// OnTrialResult implements Searcher: random search learns nothing.
func (b *BasicSearcher) OnTrialResult(string, Result) {}

// OnTrialComplete implements Searcher.
func (b *BasicSearcher) OnTrialComplete(string, *Result, bool) {}

// Streams of random numbers, one family per use, so that the values of
// trial i never depend on how many other values were drawn before.
const (
	streamTrial uint64 = iota + 1
	streamRepetition
	streamPoint
)

// streamRNG returns the random stream number i of a family for seed.
func streamRNG(seed int64, family, i uint64) *rand.Rand {
	return rand.New(rand.NewPCG(splitmix64(uint64(seed)^family<<56), splitmix64(i)))
}

// splitmix64 scrambles x (Steele et al.'s SplitMix64 finaliser), so that
// neighbouring seeds and indices give unrelated PCG states.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

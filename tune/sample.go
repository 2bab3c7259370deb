package tune

import (
	"math"
	"math/rand/v2"
)

// Sample draws a value from d (KindFloat, KindInt, KindNormal,
// KindChoice; a grid's value is drawn uniformly too). SampleFrom has no
// value on its own: it returns nil. Floats are float64, ints int64.
func (d Domain) Sample(rng *rand.Rand) any {
	switch d.kind {
	case KindFloat:
		return d.clampFloat(d.quantize(d.sampleFloat(rng)))
	case KindInt:
		lo, hi := d.low, d.high
		if d.inclusive {
			hi++
		}
		var x float64
		if d.log {
			x = math.Floor(math.Exp(math.Log(lo) + rng.Float64()*(math.Log(hi)-math.Log(lo))))
		} else {
			x = lo + float64(rng.Int64N(int64(hi-lo)))
		}
		return int64(d.clampInt(d.quantize(x)))
	case KindNormal:
		return d.quantize(d.mean + d.sd*rng.NormFloat64())
	case KindChoice, KindGrid:
		return d.values[rng.IntN(len(d.values))]
	}
	return nil
}

func (d Domain) sampleFloat(rng *rand.Rand) float64 {
	if d.log {
		return math.Exp(math.Log(d.low) + rng.Float64()*(math.Log(d.high)-math.Log(d.low)))
	}
	return d.low + rng.Float64()*(d.high-d.low)
}

// quantize rounds x to a multiple of d's q (no-op without one).
func (d Domain) quantize(x float64) float64 {
	if d.q <= 0 {
		return x
	}
	return math.Round(x/d.q) * d.q
}

// clampFloat keeps a rounded float within d's range: rounding to a
// multiple of q may step past a bound (a log domain's low bound rounded
// to zero, say).
func (d Domain) clampFloat(x float64) float64 {
	if d.q > 0 {
		if x < d.low {
			x += d.q * math.Ceil((d.low-x)/d.q)
		}
		if x > d.high {
			x -= d.q * math.Ceil((x-d.high)/d.q)
		}
	}
	return math.Max(d.low, math.Min(d.high, x))
}

// clampInt keeps a rounded int within d's range: rounding to a multiple
// of q may step past a bound.
func (d Domain) clampInt(x float64) float64 {
	top := d.high
	if !d.inclusive {
		top--
	}
	if d.q > 0 {
		for x > top {
			x -= d.q
		}
		for x < d.low {
			x += d.q
		}
	}
	return math.Max(d.low, math.Min(top, x))
}

// Clip brings x into a numeric domain's range (a float's [low, high], an
// int's possible values), rounded to its q: what PBT's perturbation and
// model-based searchers use to stay inside the space. Other kinds return
// x unchanged.
func (d Domain) Clip(x float64) any {
	switch d.kind {
	case KindFloat:
		return d.clampFloat(d.quantize(x))
	case KindInt:
		return int64(d.clampInt(d.quantize(math.Round(x))))
	case KindNormal:
		return d.quantize(x)
	}
	return x
}

package curves

import (
	"math"
	"testing"
)

func TestConfigsAreAGridOf100(t *testing.T) {
	cs := Configs()
	if len(cs) != 100 {
		t.Fatalf("%d configs, want 100", len(cs))
	}
	seen := map[Config]bool{}
	for _, c := range cs {
		if seen[c] {
			t.Fatalf("duplicate %v", c)
		}
		seen[c] = true
		back, err := FromParams(c.Params())
		if err != nil || back != c {
			t.Fatalf("FromParams(%v) = %v, %v", c.Params(), back, err)
		}
	}
}

// The families cross: early on the best configuration is a Fast one,
// at the end a Slow one.
func TestCurvesCross(t *testing.T) {
	bestAt := func(iter int) Config {
		var best Config
		bl := math.Inf(1)
		for _, c := range Configs() {
			if l := Loss(c, iter); l < bl {
				best, bl = c, l
			}
		}
		return best
	}
	if c := bestAt(1); c.Family != Fast {
		t.Errorf("best at iteration 1 is %v, want a fast one", c)
	}
	if c := bestAt(MaxIter); c.Family != Slow {
		t.Errorf("best at the end is %v, want a slow one", c)
	}
	if c, l := Best(); c != bestAt(MaxIter) || l != Loss(c, MaxIter) {
		t.Errorf("Best = %v, %v", c, l)
	}
}

// A decaying schedule beats the best constant learning rate.
func TestPBTProblemRewardsASchedule(t *testing.T) {
	lr, fixed := BestFixedLR(100)
	greedy := GreedyScheduleLoss(100)
	t.Logf("best fixed lr %.4g: loss %.4g; greedy schedule: %.4g", lr, fixed, greedy)
	if !(greedy < 0.8*fixed) {
		t.Errorf("greedy %v not well below fixed %v", greedy, fixed)
	}
	if hi, lo := PBTLoss(0.1, 5), PBTLoss(0.005, 5); !(hi < lo) {
		t.Errorf("early on a high lr should win: %v vs %v", hi, lo)
	}
}

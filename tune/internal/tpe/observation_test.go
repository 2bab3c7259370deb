package tpe

import (
	"math"
	"testing"
)

func TestGamma(t *testing.T) {
	for _, tc := range []struct{ n, want int }{
		{0, 0}, {1, 1}, {10, 1}, {11, 2}, {100, 10}, {241, 25}, {1000, 25},
	} {
		if got := Gamma(tc.n); got != tc.want {
			t.Errorf("Gamma(%d) = %d, want %d", tc.n, got, tc.want)
		}
	}
}

func TestWeights(t *testing.T) {
	ones := func(k int) []float64 {
		w := make([]float64, k)
		for i := range w {
			w[i] = 1
		}
		return w
	}
	for _, tc := range []struct {
		n    int
		want []float64
	}{
		{0, nil},
		{3, ones(3)},
		{25, ones(25)},
		{26, append([]float64{1.0 / 26}, ones(25)...)},
		{27, append([]float64{1.0 / 27, 1}, ones(25)...)},
		{28, append([]float64{1.0 / 28, (1.0/28 + 1) / 2, 1}, ones(25)...)},
	} {
		got := Weights(tc.n)
		if len(got) != len(tc.want) {
			t.Fatalf("Weights(%d): %d weights, want %d", tc.n, len(got), len(tc.want))
		}
		for i := range got {
			if !near(got[i], tc.want[i], 1e-12) {
				t.Errorf("Weights(%d)[%d] = %v, want %v", tc.n, i, got[i], tc.want[i])
			}
		}
	}
}
func TestSplit(t *testing.T) {
	obs := []Observation{
		{Loss: 5, State: Complete},                 // 0
		{State: Running},                           // 1
		{Loss: -10, State: Pruned, Step: 3},        // 2: pruned rank after complete
		{Loss: 1, State: Complete},                 // 3
		{Loss: -20, State: Pruned, Step: 1},        // 4: earlier step ranks lower
		{Loss: 3, State: Complete},                 // 5
		{Loss: math.NaN(), State: Complete},        // 6: NaN ranks last of complete
		{Loss: 2, State: Complete},                 // 7
		{Loss: 4, State: Complete},                 // 8
		{Loss: 0, State: Complete},                 // 9
		{Loss: 6, State: Complete},                 // 10
		{Loss: -30, State: Pruned, Step: 3},        // 11
		{Loss: math.NaN(), State: Pruned, Step: 3}, // 12
	}
	for _, tc := range []struct {
		liar         bool
		below, above []int
		n            int
	}{
		// 12 finished: gamma 2 → losses 0 and 1.
		{false, []int{3, 9}, []int{0, 2, 4, 5, 6, 7, 8, 10, 11, 12}, 12},
		{true, []int{3, 9}, []int{0, 1, 2, 4, 5, 6, 7, 8, 10, 11, 12}, 12},
	} {
		below, above, n := Split(obs, tc.liar)
		if n != tc.n || !equalInts(below, tc.below) || !equalInts(above, tc.above) {
			t.Errorf("liar=%v: below %v above %v n %d, want %v %v %d", tc.liar, below, above, n, tc.below, tc.above, tc.n)
		}
	}
	// With gamma large enough to reach the pruned: order complete by
	// loss, then pruned by step desc then loss.
	keys := make([]rankKey, 0)
	for i, o := range obs {
		keys = append(keys, keyOf(o, i))
	}
	if !(keys[11].stage < keys[4].stage && keys[11].loss < keys[2].loss && keys[0].stage < keys[2].stage) {
		t.Errorf("pruned keys out of order: %+v", keys)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestSplitRanksPruned: with room in the below group, complete trials
// come first whatever their loss, then pruned ones that got furthest,
// then the lowest loss among those.
func TestSplitRanksPruned(t *testing.T) {
	obs := []Observation{
		{Loss: 100, State: Complete},
		{Loss: 9, State: Pruned, Step: 5},
		{Loss: 1, State: Pruned, Step: 5},
		{Loss: 50, State: Pruned, Step: 7},
	}
	for range 17 {
		obs = append(obs, Observation{Loss: -100, State: Pruned, Step: 1})
	}
	// 21 finished: gamma 3.
	below, above, n := Split(obs, false)
	if n != 21 || !equalInts(below, []int{0, 2, 3}) || len(above) != 18 || above[0] != 1 {
		t.Errorf("below %v, above %v, n %d; want below [0 2 3]", below, above, n)
	}
}

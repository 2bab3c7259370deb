package main

import (
	"math"
	"testing"

	"github.com/rayo-dev/rayo/bench/tune/objectives"
)

// TestSearch: every registered searcher runs a short search on every
// objective and finds a finite best no lower than the known minimum.
func TestSearch(t *testing.T) {
	for name, mk := range searchers {
		for _, o := range objectives.All {
			best, err := search(mk(1), o, 15, 1)
			if err != nil || math.IsInf(best, 0) || best < o.Min-1e-9 {
				t.Errorf("%s on %s: best %v, err %v", name, o.Name, best, err)
			}
		}
	}
}

package main

import (
	"testing"

	"github.com/rayo-dev/rayo/tune"
)

// Bad command lines are refused before the cluster starts.
func TestParseFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		ok   bool
	}{
		{nil, true},
		{[]string{"-samples", "4", "-epochs", "10", "-searcher", "random"}, true},
		{[]string{"-fail-at", "7"}, true},
		{[]string{"-samples", "0"}, false},
		{[]string{"-concurrency", "-1"}, false},
		{[]string{"-searcher", "grid"}, false},
		{[]string{"-fail-at", "5"}, false},  // no checkpoint before epoch 5 to resume from
		{[]string{"-fail-at", "30"}, false}, // the last epoch
		{[]string{"extra"}, false},
	} {
		c, err := parseFlags(tc.args)
		if (err == nil) != tc.ok {
			t.Errorf("parseFlags(%q) = %v, want ok %v", tc.args, err, tc.ok)
		}
		if err == nil && len(c.searchers) == 0 {
			t.Errorf("parseFlags(%q): no searcher", tc.args)
		}
	}
}

// A trial's Params, with numbers as msgpack delivers them (int64,
// float64), make the model's configuration.
func TestModelConfig(t *testing.T) {
	p := tune.Params{"lr": 0.1, "momentum": 0.9, "weight_decay": 1e-5, "hidden": int64(16), "batch_size": int64(64), "seed": int64(3)}
	c := modelConfig(p)
	if c.LR != 0.1 || c.Momentum != 0.9 || c.WeightDecay != 1e-5 || c.Hidden != 16 || c.BatchSize != 64 || c.Seed != 3 {
		t.Errorf("modelConfig(%v) = %+v", p, c)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
}

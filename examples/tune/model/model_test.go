package model

import (
	"errors"
	"fmt"
	"math"
	"testing"
)

// smallConfig is DefaultConfig on fewer points and units, so that tests
// under -race stay fast; fewer steps per epoch want a larger step.
func smallConfig() Config {
	c := DefaultConfig()
	c.LR = 0.1
	c.Hidden = 16
	c.Data.N = 800
	return c
}

func mustNew(t *testing.T, c Config) *Model {
	t.Helper()
	m, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSpiralsData(t *testing.T) {
	c := DefaultData()
	train, valid := spirals(c)
	if train.Len() != 1600 || valid.Len() != 400 || len(train.X) != 3200 || len(valid.X) != 800 {
		t.Fatalf("split = %d/%d points; want 1600/400", train.Len(), valid.Len())
	}
	ones := 0.0
	for _, y := range valid.Y {
		ones += y
	}
	if ones != 200 {
		t.Fatalf("validation set has %v points of spiral 1; want 200", ones)
	}
	again, _ := spirals(c)
	for i := range train.X {
		if train.X[i] != again.X[i] {
			t.Fatalf("data differs for the same seed at %d", i)
		}
	}
	c.Seed++
	other, _ := spirals(c)
	if other.X[0] == train.X[0] && other.X[1] == train.X[1] {
		t.Fatalf("data is the same for different seeds")
	}
}

func TestLossGoesDown(t *testing.T) {
	m := mustNew(t, smallConfig())
	before := m.ValidLoss()
	first := m.Epoch()
	last := m.Train(49)
	after := m.ValidLoss()
	if !(last < first) || !(after < before/2) {
		t.Fatalf("training loss %v -> %v, validation loss %v -> %v; want both down (validation to under half)", first, last, before, after)
	}
	if acc := m.Accuracy(); acc < 0.9 {
		t.Fatalf("accuracy after 50 epochs = %v; want at least 0.9", acc)
	}
	if m.Epochs() != 50 {
		t.Fatalf("Epochs = %d; want 50", m.Epochs())
	}
}

func TestHyperparametersMatter(t *testing.T) {
	quality := map[string]float64{}
	tests := []struct {
		name string
		edit func(*Config)
	}{
		{"good", func(*Config) {}},
		{"lr too small", func(c *Config) { c.LR = 1e-4 }},
		{"lr too large", func(c *Config) { c.LR = 5 }},
		{"no momentum", func(c *Config) { c.Momentum = 0 }},
		{"heavy weight decay", func(c *Config) { c.WeightDecay = 0.05 }},
	}
	for _, tt := range tests {
		c := smallConfig()
		tt.edit(&c)
		m := mustNew(t, c)
		m.Train(30)
		quality[tt.name] = m.Accuracy()
	}
	for name, acc := range quality {
		if name != "good" && !(acc < quality["good"]-0.05) {
			t.Errorf("%s: accuracy %v; want well below the good configuration's %v", name, acc, quality["good"])
		}
	}
}

func TestDeterministic(t *testing.T) {
	a, b := mustNew(t, smallConfig()), mustNew(t, smallConfig())
	for range 3 {
		if la, lb := a.Epoch(), b.Epoch(); la != lb {
			t.Fatalf("same config, different losses: %v, %v", la, lb)
		}
	}
	c := smallConfig()
	c.Seed++
	other := mustNew(t, c)
	if other.Epoch() == mustNew(t, smallConfig()).Epoch() {
		t.Fatalf("different seeds gave the same loss")
	}
}

func TestCheckpointRoundTrip(t *testing.T) {
	m := mustNew(t, smallConfig())
	m.Train(3)
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var restored Model
	if err := restored.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if restored.Config() != m.Config() || restored.Epochs() != 3 {
		t.Fatalf("restored config %+v at epoch %d; want %+v at 3", restored.Config(), restored.Epochs(), m.Config())
	}
	valid := m.Valid()
	for i := range valid.Len() {
		x0, x1 := valid.X[2*i], valid.X[2*i+1]
		if p, q := m.Predict(x0, x1), restored.Predict(x0, x1); p != q {
			t.Fatalf("point %d: prediction %v, restored %v", i, p, q)
		}
	}
	// Training on continues identically: the momentum and the minibatch
	// order came back too.
	for range 2 {
		if l, r := m.Epoch(), restored.Epoch(); l != r {
			t.Fatalf("after restore: loss %v, restored %v", l, r)
		}
	}
	if m.ValidLoss() != restored.ValidLoss() {
		t.Fatalf("validation losses differ after training on")
	}
}

func TestUnmarshalBad(t *testing.T) {
	good, err := mustNew(t, smallConfig()).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"wrong magic", append([]byte("nope"), good[4:]...)},
		{"truncated", good[:len(good)-1]},
		{"trailing bytes", append(append([]byte(nil), good...), 0)},
		{"header only", good[:4+6*8]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Model
			if err := m.UnmarshalBinary(tt.b); !errors.Is(err, ErrBadCheckpoint) {
				t.Fatalf("err = %v; want ErrBadCheckpoint", err)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
	}{
		{"zero lr", func(c *Config) { c.LR = 0 }},
		{"NaN lr", func(c *Config) { c.LR = math.NaN() }},
		{"momentum 1", func(c *Config) { c.Momentum = 1 }},
		{"negative weight decay", func(c *Config) { c.WeightDecay = -1 }},
		{"no hidden units", func(c *Config) { c.Hidden = 0 }},
		{"zero batch", func(c *Config) { c.BatchSize = 0 }},
		{"one point", func(c *Config) { c.Data.N = 1 }},
		{"no validation", func(c *Config) { c.Data.ValidFraction = 0 }},
		{"empty validation split", func(c *Config) { c.Data.N, c.Data.ValidFraction = 4, 0.01 }},
		{"negative noise", func(c *Config) { c.Data.Noise = -0.1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.edit(&c)
			if _, err := New(c); !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("New err = %v; want ErrInvalidConfig", err)
			}
		})
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig: %v", err)
	}
}

// BenchmarkEpoch times one epoch of DefaultConfig (1,600 training
// points) at several hidden widths.
func BenchmarkEpoch(b *testing.B) {
	for _, hidden := range []int{8, 32, 64} {
		b.Run(fmt.Sprintf("hidden=%d", hidden), func(b *testing.B) {
			c := DefaultConfig()
			c.Hidden = hidden
			m, err := New(c)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				m.Epoch()
			}
		})
	}
}

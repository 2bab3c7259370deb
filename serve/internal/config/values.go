package config

import (
	"time"

	"go.yaml.in/yaml/v3"
)

// Readers of numbers with bounds, shared by the sections.

func (d *decoder) optInt(n *yaml.Node, path string, atLeast int) *int {
	v, ok := d.small(n, path)
	if !ok {
		return nil
	}
	if v < atLeast {
		d.fail(resolve(n), path, "must be at least %d, got %d", atLeast, v)
	}
	return &v
}

func (d *decoder) positive(n *yaml.Node, path string) *float64 {
	v, ok := d.number(n, path)
	if !ok {
		return nil
	}
	if v <= 0 {
		d.fail(resolve(n), path, "must be greater than 0, got %v", v)
	}
	return &v
}

func (d *decoder) nonNegative(n *yaml.Node, path string) *float64 {
	v, ok := d.number(n, path)
	if !ok {
		return nil
	}
	if v < 0 {
		d.fail(resolve(n), path, "must be at least 0, got %v", v)
	}
	return &v
}

func (d *decoder) positiveSeconds(n *yaml.Node, path string) (time.Duration, bool) {
	v, ok := d.seconds(n, path)
	if ok && v <= 0 {
		d.fail(resolve(n), path, "must be greater than 0 seconds, got %v", v.Seconds())
	}
	return v, ok
}

// optSeconds reads seconds as an optional duration, > 0 when positive,
// else ≥ 0.
func (d *decoder) optSeconds(n *yaml.Node, path string, positive bool) *time.Duration {
	v, ok := d.seconds(n, path)
	if !ok {
		return nil
	}
	switch {
	case positive && v <= 0:
		d.fail(resolve(n), path, "must be greater than 0 seconds, got %v", v.Seconds())
	case v < 0:
		d.fail(resolve(n), path, "must be at least 0 seconds, got %v", v.Seconds())
	}
	return &v
}

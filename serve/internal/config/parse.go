package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"go.yaml.in/yaml/v3"
)

// MaxFileSize bounds the config files ParseFile reads.
const MaxFileSize = 16 << 20

// Parse reads a config file's contents (YAML, or JSON, which is YAML too)
// and validates it. On any error it returns nil and every problem found,
// each a *FieldError naming its field, joined with errors.Join; each wraps
// ErrInvalidConfig.
func Parse(data []byte) (*Config, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &FieldError{Msg: "empty: a config needs at least applications:"}
		}
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		line := extra.Line
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
		}
		return nil, &FieldError{Line: line, Msg: "holds several YAML documents; expected one"}
	}
	if len(doc.Content) == 0 || isNull(doc.Content[0]) {
		return nil, &FieldError{Msg: "empty: a config needs at least applications:"}
	}
	d := &decoder{budget: nodeBudget}
	root := doc.Content[0]
	c := d.config(root)
	d.checkApplications(c.Applications)
	if len(d.errs) > 0 {
		if d.dropped > 0 {
			d.errs = append(d.errs, fmt.Errorf("%w: and %d more errors", ErrInvalidConfig, d.dropped))
		}
		return nil, errors.Join(d.errs...)
	}
	c.Warnings = d.warnings
	return c, nil
}

// ParseFile reads and parses the config file at path.
func ParseFile(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrInvalidConfig, path, MaxFileSize)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

package dataset

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
)

// The datasets' names, as the manifest and the benchmark's rows name them.
const (
	// RMW is row 1's table {a int64, b float64, c float64}, read, mapped
	// and written; rows 3 (sort by a, random shuffle) read it too.
	RMW = "rmw"
	// GB10M is row 2's 10M rows {k int64 in [0, 1M), v float64}.
	GB10M = "gb10m"
	// GB1M is row 2's 1M rows {k int64 in [0, 100), v float64}.
	GB1M = "gb1m"
)

// Spec says how one dataset is laid out at a scale.
type Spec struct {
	Name        string
	Files       int   // Parquet files, written a goroutine each
	RowsPerFile int64 // a multiple of RowGroup
	RowGroup    int64 // rows per Parquet row group
	Keys        int64 // group-by tables: k is uniform in [0, Keys); 0 for RMW
	CSV         bool  // also write the table as one CSV file (for pandas)
}

// Rows is the dataset's row count.
func (s Spec) Rows() int64 { return int64(s.Files) * s.RowsPerFile }

// Schema is the dataset's Arrow schema (no column is nullable).
func (s Spec) Schema() *arrow.Schema {
	if s.Keys == 0 {
		return RMWSchema
	}
	return GroupBySchema
}

// RMWSchema is the schema of RMW: a random int64 in [0, 1e12) and two
// uniform float64 in [0, 1): 24 incompressible bytes a row, so that 2 GiB
// on disk is reached with few columns and little generation work.
var RMWSchema = arrow.NewSchema([]arrow.Field{
	{Name: "a", Type: arrow.PrimitiveTypes.Int64},
	{Name: "b", Type: arrow.PrimitiveTypes.Float64},
	{Name: "c", Type: arrow.PrimitiveTypes.Float64},
}, nil)

// GroupBySchema is the schema of the group-by tables: a key and a value
// uniform in [0, 1000).
var GroupBySchema = arrow.NewSchema([]arrow.Field{
	{Name: "k", Type: arrow.PrimitiveTypes.Int64},
	{Name: "v", Type: arrow.PrimitiveTypes.Float64},
}, nil)

// Specs returns the datasets at a scale: "full" is what issue 16 asks
// for (RMW 100.7M rows, about 2.4 GB on disk; 10M rows into 1M groups; 1M
// rows into 100 groups), "small" has 100 times fewer rows (and 100 times
// fewer keys in GB10M, so that groups keep their size) for a quick check.
func Specs(scale string) ([]Spec, error) {
	switch scale {
	case "full":
		return []Spec{
			{Name: RMW, Files: 24, RowsPerFile: 4 << 20, RowGroup: 1 << 20},
			{Name: GB10M, Files: 10, RowsPerFile: 1_000_000, RowGroup: 1_000_000, Keys: 1_000_000, CSV: true},
			{Name: GB1M, Files: 2, RowsPerFile: 500_000, RowGroup: 500_000, Keys: 100, CSV: true},
		}, nil
	case "small":
		return []Spec{
			{Name: RMW, Files: 24, RowsPerFile: 40_000, RowGroup: 10_000},
			{Name: GB10M, Files: 10, RowsPerFile: 10_000, RowGroup: 10_000, Keys: 10_000, CSV: true},
			{Name: GB1M, Files: 2, RowsPerFile: 5_000, RowGroup: 5_000, Keys: 100, CSV: true},
		}, nil
	}
	return nil, fmt.Errorf("%w: %q (want small or full)", ErrBadScale, scale)
}

// WriterProperties are the Parquet writer's settings for every file the
// benchmark writes, inputs and outputs alike: snappy, no dictionary (the
// data is random, a dictionary would be built and thrown away), rowGroup
// rows per row group. Rayo's rows should write with the same settings.
func WriterProperties(rowGroup int64) *parquet.WriterProperties {
	return parquet.NewWriterProperties(
		parquet.WithCompression(compress.Codecs.Snappy),
		parquet.WithDictionaryDefault(false),
		parquet.WithMaxRowGroupLength(rowGroup),
	)
}

// Entry is one dataset as written.
type Entry struct {
	Spec
	Files     []string `json:"files"`      // Parquet files, relative to the manifest's directory
	Bytes     int64    `json:"bytes"`      // their total size on disk
	CSVFile   string   `json:"csv_file"`   // relative; "" when Spec.CSV is false
	CSVBytes  int64    `json:"csv_bytes"`  // its size on disk
	GenSecond float64  `json:"gen_second"` // wall time spent writing it (shared cores)
}

// Manifest records a generated directory.
type Manifest struct {
	Scale    string            `json:"scale"`
	Seed     uint64            `json:"seed"`
	Datasets map[string]*Entry `json:"datasets"`

	dir string
}

// ManifestName is the manifest's file name inside the data directory.
const ManifestName = "manifest.json"

// Dir is the directory the manifest was loaded from or written to.
func (m *Manifest) Dir() string { return m.dir }

// Dataset returns the named entry.
func (m *Manifest) Dataset(name string) (*Entry, error) {
	e, ok := m.Datasets[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q in %s", ErrUnknownDataset, name, filepath.Join(m.dir, ManifestName))
	}
	return e, nil
}

// Paths returns the named dataset's Parquet files as paths.
func (m *Manifest) Paths(name string) ([]string, error) {
	e, err := m.Dataset(name)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(e.Files))
	for i, f := range e.Files {
		out[i] = filepath.Join(m.dir, f)
	}
	return out, nil
}

// Glob returns a glob that matches exactly the named dataset's Parquet
// files (for DuckDB's read_parquet).
func (m *Manifest) Glob(name string) (string, error) {
	if _, err := m.Dataset(name); err != nil {
		return "", err
	}
	return filepath.Join(m.dir, name, "*.parquet"), nil
}

// CSVPath returns the named dataset's CSV file.
func (m *Manifest) CSVPath(name string) (string, error) {
	e, err := m.Dataset(name)
	if err != nil {
		return "", err
	}
	if e.CSVFile == "" {
		return "", fmt.Errorf("%w: %q has no CSV", ErrUnknownDataset, name)
	}
	return filepath.Join(m.dir, e.CSVFile), nil
}

// Load reads dir's manifest.
func Load(dir string) (*Manifest, error) {
	p := filepath.Join(dir, ManifestName)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNoManifest, p)
	}
	if err != nil {
		return nil, &FileError{Path: p, Op: "read", Err: err}
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadManifest, p, err)
	}
	if len(m.Datasets) == 0 {
		return nil, fmt.Errorf("%w: %s lists no dataset", ErrBadManifest, p)
	}
	for name, e := range m.Datasets {
		if e == nil || e.Name != name || len(e.Files) == 0 {
			return nil, fmt.Errorf("%w: %s: entry %q is incomplete", ErrBadManifest, p, name)
		}
	}
	m.dir = dir
	return &m, nil
}

func (m *Manifest) save() error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	p := filepath.Join(m.dir, ManifestName)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		return &FileError{Path: p, Op: "write", Err: err}
	}
	return nil
}

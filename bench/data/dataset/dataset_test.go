package dataset_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/parquet/file"
	"go.uber.org/goleak"

	"github.com/rayo-dev/rayo/bench/data/dataset"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// tiny is a scale small enough for a unit test, with several row groups
// per file and a last group shorter than the others.
var tiny = []dataset.Spec{
	{Name: dataset.RMW, Files: 3, RowsPerFile: 2500, RowGroup: 1000},
	{Name: dataset.GB1M, Files: 2, RowsPerFile: 3000, RowGroup: 1000, Keys: 7, CSV: true},
}

func TestGenerateAndLoad(t *testing.T) {
	dir := t.TempDir()
	if _, err := dataset.Generate(context.Background(), dir, "tiny", tiny, 1, 2); err != nil {
		t.Fatal(err)
	}
	m, err := dataset.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range tiny {
		paths, err := m.Paths(s.Name)
		if err != nil {
			t.Fatal(err)
		}
		if len(paths) != s.Files {
			t.Fatalf("%s: %d files, want %d", s.Name, len(paths), s.Files)
		}
		var rows, groups int64
		for _, p := range paths {
			r, err := file.OpenParquetFile(p, false)
			if err != nil {
				t.Fatal(err)
			}
			rows += r.NumRows()
			groups += int64(r.NumRowGroups())
			if got := r.MetaData().Schema.NumColumns(); got != s.Schema().NumFields() {
				t.Errorf("%s: %d columns, want %d", p, got, s.Schema().NumFields())
			}
			r.Close()
		}
		if rows != s.Rows() {
			t.Errorf("%s: %d rows, want %d", s.Name, rows, s.Rows())
		}
		if want := int64(s.Files) * 3; groups != want {
			t.Errorf("%s: %d row groups, want %d", s.Name, groups, want)
		}
		if m.Datasets[s.Name].Bytes == 0 {
			t.Errorf("%s: no size recorded", s.Name)
		}
	}
	csv, err := m.CSVPath(dataset.GB1M)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(csv)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lines := 0
	for sc := bufio.NewScanner(f); sc.Scan(); lines++ {
	}
	if want := int(tiny[1].Rows()) + 1; lines != want {
		t.Errorf("CSV has %d lines, want %d (header and rows)", lines, want)
	}
	if _, err := m.CSVPath(dataset.RMW); !errors.Is(err, dataset.ErrUnknownDataset) {
		t.Errorf("CSVPath(rmw) = %v, want ErrUnknownDataset", err)
	}
	if _, err := m.Paths("nope"); !errors.Is(err, dataset.ErrUnknownDataset) {
		t.Errorf("Paths(nope) = %v, want ErrUnknownDataset", err)
	}
}

// Two runs with one seed write the same values; another seed does not.
func TestGenerateDeterministic(t *testing.T) {
	read := func(seed uint64) []byte {
		dir := t.TempDir()
		if _, err := dataset.Generate(context.Background(), dir, "tiny", tiny[1:], seed, 1); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, dataset.GB1M+".csv"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, b, c := read(3), read(3), read(4)
	if !bytes.Equal(a, b) {
		t.Error("same seed, different data")
	}
	if bytes.Equal(a, c) {
		t.Error("different seeds, same data")
	}
}

func TestBadInputs(t *testing.T) {
	if _, err := dataset.Specs("huge"); !errors.Is(err, dataset.ErrBadScale) {
		t.Errorf("Specs(huge) = %v, want ErrBadScale", err)
	}
	for _, s := range []string{"small", "full"} {
		specs, err := dataset.Specs(s)
		if err != nil {
			t.Fatal(err)
		}
		for _, sp := range specs {
			if sp.RowsPerFile%sp.RowGroup != 0 {
				t.Errorf("%s/%s: %d rows per file, not a multiple of %d", s, sp.Name, sp.RowsPerFile, sp.RowGroup)
			}
		}
	}
	dir := t.TempDir()
	if _, err := dataset.Load(dir); !errors.Is(err, dataset.ErrNoManifest) {
		t.Errorf("Load(empty) = %v, want ErrNoManifest", err)
	}
	for _, bad := range []string{"{", `{"datasets":{}}`, `{"datasets":{"rmw":{"Name":"gb1m","files":["x"]}}}`} {
		if err := os.WriteFile(filepath.Join(dir, dataset.ManifestName), []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := dataset.Load(dir); !errors.Is(err, dataset.ErrBadManifest) {
			t.Errorf("Load(%s) = %v, want ErrBadManifest", bad, err)
		}
	}
	// A directory that cannot be created fails with a FileError.
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := dataset.Generate(context.Background(), blocker, "tiny", tiny, 1, 1)
	var fe *dataset.FileError
	if !errors.As(err, &fe) {
		t.Errorf("Generate under a file = %v, want a *FileError", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := dataset.Generate(ctx, t.TempDir(), "tiny", tiny, 1, 2); !errors.Is(err, context.Canceled) {
		t.Errorf("Generate(cancelled) = %v, want context.Canceled", err)
	}
}

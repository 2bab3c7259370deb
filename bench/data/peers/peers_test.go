package peers_test

import (
	"context"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"go.uber.org/goleak"

	"github.com/rayo-dev/rayo/bench/data/dataset"
	"github.com/rayo-dev/rayo/bench/data/peers"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var tiny = []dataset.Spec{
	{Name: dataset.RMW, Files: 3, RowsPerFile: 2500, RowGroup: 1000},
	{Name: dataset.GB1M, Files: 2, RowsPerFile: 3000, RowGroup: 1000, Keys: 7, CSV: true},
}

func generate(t *testing.T) *dataset.Manifest {
	t.Helper()
	m, err := dataset.Generate(context.Background(), t.TempDir(), "tiny", tiny, 5, 2)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// readAll reads a Parquet file's columns by name.
func readAll(t *testing.T, p string) map[string][]float64 {
	t.Helper()
	r, err := file.OpenParquetFile(p, false)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	fr, err := pqarrow.NewFileReader(r, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	out := map[string][]float64{}
	for i := range int(tbl.NumCols()) {
		name := tbl.Schema().Field(i).Name
		for _, chunk := range tbl.Column(i).Data().Chunks() {
			switch a := chunk.(type) {
			case *array.Int64:
				for _, v := range a.Int64Values() {
					out[name] = append(out[name], float64(v))
				}
			case *array.Float64:
				out[name] = append(out[name], a.Float64Values()...)
			default:
				t.Fatalf("column %s: unexpected %T", name, chunk)
			}
		}
	}
	return out
}

func TestFloor(t *testing.T) {
	m := generate(t)
	in, err := m.Paths(dataset.RMW)
	if err != nil {
		t.Fatal(err)
	}
	outDir := filepath.Join(t.TempDir(), "out")
	th, err := peers.Floor(context.Background(), in, outDir, 2, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if th.Rows != tiny[0].Rows() || th.InBytes == 0 || th.OutBytes <= th.InBytes || th.Seconds <= 0 {
		t.Errorf("Floor = %+v, want %d rows, output larger than input", th, tiny[0].Rows())
	}
	for _, p := range in {
		src := readAll(t, p)
		dst := readAll(t, filepath.Join(outDir, filepath.Base(p)))
		if len(dst["x"]) != len(src["a"]) {
			t.Fatalf("%s: %d rows out, %d in", p, len(dst["x"]), len(src["a"]))
		}
		for i := range src["a"] {
			x, y := src["a"][i]*2+src["b"][i], src["c"][i]-src["b"][i]
			if dst["x"][i] != x || dst["y"][i] != y || dst["a"][i] != src["a"][i] {
				t.Fatalf("%s row %d: x, y = %v, %v, want %v, %v", p, i, dst["x"][i], dst["y"][i], x, y)
			}
		}
	}
}

func TestFloorBadInputs(t *testing.T) {
	m := generate(t)
	ctx := context.Background()
	if _, err := peers.Floor(ctx, nil, t.TempDir(), 2, 1000); !errors.Is(err, peers.ErrNoInput) {
		t.Errorf("Floor(no input) = %v, want ErrNoInput", err)
	}
	gb, err := m.Paths(dataset.GB1M)
	if err != nil {
		t.Fatal(err)
	}
	_, err = peers.Floor(ctx, gb, t.TempDir(), 2, 1000)
	var fe *peers.FileError
	if !errors.Is(err, peers.ErrSchema) || !errors.As(err, &fe) {
		t.Errorf("Floor(group-by files) = %v, want ErrSchema in a FileError", err)
	}
	notParquet := filepath.Join(t.TempDir(), "x.parquet")
	if err := os.WriteFile(notParquet, []byte("not parquet"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := peers.Floor(ctx, []string{notParquet}, t.TempDir(), 1, 1000); !errors.As(err, &fe) || fe.Path != notParquet {
		t.Errorf("Floor(not parquet) = %v, want a FileError naming the file", err)
	}
}

// want computes the group-by in Go, as the reference.
func want(t *testing.T, m *dataset.Manifest) (map[int64]float64, map[int64]int64) {
	paths, err := m.Paths(dataset.GB1M)
	if err != nil {
		t.Fatal(err)
	}
	sums, counts := map[int64]float64{}, map[int64]int64{}
	for _, p := range paths {
		c := readAll(t, p)
		for i, k := range c["k"] {
			sums[int64(k)] += c["v"][i]
			counts[int64(k)]++
		}
	}
	return sums, counts
}

func TestDuckDB(t *testing.T) {
	m := generate(t)
	ctx := context.Background()
	d, err := peers.OpenDuckDB(ctx, t.TempDir(), 2)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	glob, err := m.Glob(dataset.GB1M)
	if err != nil {
		t.Fatal(err)
	}
	g, secs, err := d.GroupBy(ctx, glob)
	if err != nil || secs <= 0 {
		t.Fatal(err, secs)
	}
	sums, counts := want(t, m)
	if len(g.Keys) != len(sums) {
		t.Fatalf("%d groups, want %d", len(g.Keys), len(sums))
	}
	for i, k := range g.Keys {
		if g.Counts[i] != counts[k] || math.Abs(g.Sums[i]-sums[k]) > 1e-9*sums[k] ||
			math.Abs(g.Means[i]-sums[k]/float64(counts[k])) > 1e-9*sums[k] {
			t.Errorf("key %d: sum %v mean %v count %d, want %v, %v, %d", k, g.Sums[i], g.Means[i], g.Counts[i],
				sums[k], sums[k]/float64(counts[k]), counts[k])
		}
	}
	if _, err := d.GroupByInEngine(ctx, glob); err != nil {
		t.Fatal(err)
	}
	ga, _, err := d.GroupByArrow(ctx, glob)
	switch {
	case !peers.ArrowBuilt:
		if !errors.Is(err, peers.ErrNoArrow) {
			t.Errorf("GroupByArrow without the tag = %v, want ErrNoArrow", err)
		}
	case err != nil:
		t.Fatal(err)
	default:
		if len(ga.Keys) != len(sums) {
			t.Fatalf("Arrow: %d groups, want %d", len(ga.Keys), len(sums))
		}
		for i, k := range ga.Keys {
			if ga.Counts[i] != counts[k] || math.Abs(ga.Sums[i]-sums[k]) > 1e-9*sums[k] {
				t.Errorf("Arrow: key %d: sum %v count %d, want %v, %d", k, ga.Sums[i], ga.Counts[i], sums[k], counts[k])
			}
		}
	}

	rmw, err := m.Glob(dataset.RMW)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "sorted.parquet")
	for _, toTable := range []bool{false, true} {
		_, n, err := d.Sort(ctx, rmw, "a", out, toTable)
		if err != nil || n != tiny[0].Rows() {
			t.Fatalf("Sort(toTable=%v) = %d rows, %v; want %d", toTable, n, err, tiny[0].Rows())
		}
	}
	a := readAll(t, out)["a"]
	for i := 1; i < len(a); i++ {
		if a[i-1] > a[i] {
			t.Fatalf("row %d: %v after %v, not sorted", i, a[i], a[i-1])
		}
	}
	if _, n, err := d.Sort(ctx, rmw, "", out, false); err != nil || n != tiny[0].Rows() {
		t.Fatalf("Sort(random) = %d rows, %v", n, err)
	}

	if _, _, err := d.GroupBy(ctx, filepath.Join(t.TempDir(), "none*.parquet")); !errors.Is(err, peers.ErrDuckDB) {
		t.Errorf("GroupBy(no files) = %v, want ErrDuckDB", err)
	}
	if _, _, err := d.Sort(ctx, rmw, "no_such_column", out, true); !errors.Is(err, peers.ErrDuckDB) {
		t.Errorf("Sort(bad column) = %v, want ErrDuckDB", err)
	}
}

func TestPandas(t *testing.T) {
	if err := exec.Command(peers.Python, "-c", "import pandas").Run(); err != nil {
		t.Skipf("no pandas for %s (apt-get install python3-pandas): %v", peers.Python, err)
	}
	m := generate(t)
	ctx := context.Background()
	csv, err := m.CSVPath(dataset.GB1M)
	if err != nil {
		t.Fatal(err)
	}
	p, err := peers.Pandas(ctx, "../pandas_groupby.py", csv)
	if err != nil {
		t.Fatal(err)
	}
	sums, counts := want(t, m)
	var total float64
	for _, s := range sums {
		total += s
	}
	if p.Rows != tiny[1].Rows() || p.CountTotal != p.Rows || p.Groups != len(counts) ||
		math.Abs(p.SumTotal-total) > 1e-9*total || p.AggSecond <= 0 || p.LoadSecond <= 0 {
		t.Errorf("Pandas = %+v, want %d rows, %d groups, sum %v", p, tiny[1].Rows(), len(counts), total)
	}
	if _, err := peers.Pandas(ctx, "../pandas_groupby.py", filepath.Join(t.TempDir(), "none.csv")); !errors.Is(err, peers.ErrPandas) {
		t.Errorf("Pandas(no file) = %v, want ErrPandas", err)
	}
}

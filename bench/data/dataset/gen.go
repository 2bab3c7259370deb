package dataset

import (
	"bufio"
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/rayo-dev/rayo/bench/data/internal/col"
)

// rng returns file i's generator: a function of the seed, the dataset and
// the file only, so that files can be written in any order and the CSV
// copy regenerates exactly the Parquet file's values.
func (s Spec) rng(seed uint64, i int) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(s.Name))
	return rand.New(rand.NewPCG(seed, h.Sum64()^uint64(i)))
}

// batch draws the next n rows of a file from r.
func (s Spec) batch(r *rand.Rand, n int) arrow.RecordBatch {
	if s.Keys == 0 {
		a, b, c := make([]int64, n), make([]float64, n), make([]float64, n)
		for j := range n {
			a[j] = r.Int64N(1_000_000_000_000)
			b[j] = r.Float64()
			c[j] = r.Float64()
		}
		return recordOf(RMWSchema, col.Int64(a), col.Float64(b), col.Float64(c))
	}
	k, v := make([]int64, n), make([]float64, n)
	for j := range n {
		k[j] = r.Int64N(s.Keys)
		v[j] = r.Float64() * 1000
	}
	return recordOf(GroupBySchema, col.Int64(k), col.Float64(v))
}

func recordOf(schema *arrow.Schema, cols ...arrow.Array) arrow.RecordBatch {
	rec := array.NewRecordBatch(schema, cols, int64(cols[0].Len()))
	for _, c := range cols {
		c.Release()
	}
	return rec
}

// fileName is file i's path relative to the data directory.
func (s Spec) fileName(i int) string {
	return filepath.Join(s.Name, fmt.Sprintf("part-%05d.parquet", i))
}

// Generate writes specs' datasets under dir (each in its own folder) and
// the manifest, with at most workers files written at once, and returns
// the manifest. It overwrites what a previous run left.
func Generate(ctx context.Context, dir, scale string, specs []Spec, seed uint64, workers int) (*Manifest, error) {
	if workers < 1 {
		workers = 1
	}
	m := &Manifest{Scale: scale, Seed: seed, Datasets: map[string]*Entry{}, dir: dir}
	type job struct {
		spec Spec
		file int // -1: the CSV copy
	}
	var jobs []job
	for _, s := range specs {
		if err := os.MkdirAll(filepath.Join(dir, s.Name), 0o755); err != nil {
			return nil, &FileError{Path: filepath.Join(dir, s.Name), Op: "create", Err: err}
		}
		e := &Entry{Spec: s}
		for i := range s.Files {
			e.Files = append(e.Files, s.fileName(i))
			jobs = append(jobs, job{s, i})
		}
		if s.CSV {
			e.CSVFile = s.Name + ".csv"
			jobs = append(jobs, job{s, -1})
		}
		m.Datasets[s.Name] = e
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
		next     = make(chan job)
		start    = time.Now()
		finished = map[string]time.Time{}
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				var err error
				if j.file < 0 {
					err = writeCSV(ctx, dir, j.spec, seed)
				} else {
					err = writeParquet(ctx, dir, j.spec, seed, j.file)
				}
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
					cancel()
				}
				finished[j.spec.Name] = time.Now()
				mu.Unlock()
			}
		}()
	}
feed:
	for _, j := range jobs {
		select {
		case next <- j:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, e := range m.Datasets {
		e.GenSecond = finished[e.Name].Sub(start).Seconds()
		for _, f := range e.Files {
			st, err := os.Stat(filepath.Join(dir, f))
			if err != nil {
				return nil, &FileError{Path: filepath.Join(dir, f), Op: "read", Err: err}
			}
			e.Bytes += st.Size()
		}
		if e.CSVFile != "" {
			st, err := os.Stat(filepath.Join(dir, e.CSVFile))
			if err != nil {
				return nil, &FileError{Path: filepath.Join(dir, e.CSVFile), Op: "read", Err: err}
			}
			e.CSVBytes = st.Size()
		}
	}
	return m, m.save()
}

func writeParquet(ctx context.Context, dir string, s Spec, seed uint64, i int) (err error) {
	p := filepath.Join(dir, s.fileName(i))
	f, err := os.Create(p)
	if err != nil {
		return &FileError{Path: p, Op: "create", Err: err}
	}
	w, err := pqarrow.NewFileWriter(s.Schema(), f, WriterProperties(s.RowGroup), pqarrow.DefaultWriterProps())
	if err != nil {
		f.Close()
		return &FileError{Path: p, Op: "write", Err: err}
	}
	defer func() {
		// The writer closes f too.
		if cerr := w.Close(); cerr != nil && err == nil {
			err = &FileError{Path: p, Op: "close", Err: cerr}
		}
	}()
	r := s.rng(seed, i)
	for done := int64(0); done < s.RowsPerFile; done += s.RowGroup {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec := s.batch(r, int(min(s.RowGroup, s.RowsPerFile-done)))
		err := w.Write(rec)
		rec.Release()
		if err != nil {
			return &FileError{Path: p, Op: "write", Err: err}
		}
	}
	return nil
}

// writeCSV writes the dataset's rows, file after file, as one CSV file
// with a header, floats in the shortest form that reads back exactly (so
// pandas sums the same values as the Parquet readers).
func writeCSV(ctx context.Context, dir string, s Spec, seed uint64) (err error) {
	p := filepath.Join(dir, s.Name+".csv")
	f, err := os.Create(p)
	if err != nil {
		return &FileError{Path: p, Op: "create", Err: err}
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = &FileError{Path: p, Op: "close", Err: cerr}
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	bw.WriteString("k,v\n")
	var line []byte
	for i := range s.Files {
		r := s.rng(seed, i)
		for done := int64(0); done < s.RowsPerFile; done += s.RowGroup {
			if err := ctx.Err(); err != nil {
				return err
			}
			rec := s.batch(r, int(min(s.RowGroup, s.RowsPerFile-done)))
			k := rec.Column(0).(*array.Int64).Int64Values()
			v := rec.Column(1).(*array.Float64).Float64Values()
			for j := range k {
				line = strconv.AppendInt(line[:0], k[j], 10)
				line = append(line, ',')
				line = strconv.AppendFloat(line, v[j], 'g', -1, 64)
				line = append(line, '\n')
				bw.Write(line)
			}
			rec.Release()
		}
	}
	if err := bw.Flush(); err != nil {
		return &FileError{Path: p, Op: "write", Err: err}
	}
	return nil
}

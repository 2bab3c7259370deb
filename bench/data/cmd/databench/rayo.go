package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/bench/data/dataset"
	"github.com/rayo-dev/rayo/bench/data/peers"
	"github.com/rayo-dev/rayo/bench/data/report"
	"github.com/rayo-dev/rayo/data"
)

// The rayo rows run rayo Data's public API on the embedded default: this
// binary is the driver and, started by the embedded node with
// RAYO_WORKER_MODE=1, its own workers (main calls serveIfWorker first).
// The functions the rows run are registered here, at package level, so
// that the workers have them too.

var (
	// mapXY is row 1's map, the floor's arithmetic: x = a*2 + b,
	// y = c - b appended to the input's columns (which the output shares,
	// as AddColumn's does: no copy of a, b, c).
	mapXY = data.BatchFunc("databench.mapXY", func(_ context.Context, rec arrow.RecordBatch) (arrow.RecordBatch, error) {
		a, okA := columnOf(rec, "a").(*array.Int64)
		b, okB := columnOf(rec, "b").(*array.Float64)
		c, okC := columnOf(rec, "c").(*array.Float64)
		if !okA || !okB || !okC {
			return nil, fmt.Errorf("%w: row 1's map wants a int64, b and c float64; the batch has %v", errRayo, rec.Schema())
		}
		av, bv, cv := a.Int64Values(), b.Float64Values(), c.Float64Values()
		n := len(av)
		x := memory.NewResizableBuffer(memory.DefaultAllocator)
		x.Resize(n * 8)
		y := memory.NewResizableBuffer(memory.DefaultAllocator)
		y.Resize(n * 8)
		xv := arrow.Float64Traits.CastFromBytes(x.Bytes())[:n]
		yv := arrow.Float64Traits.CastFromBytes(y.Bytes())[:n]
		for i := range n {
			xv[i] = float64(av[i])*2 + bv[i]
			yv[i] = cv[i] - bv[i]
		}
		xa := array.NewFloat64Data(array.NewData(arrow.PrimitiveTypes.Float64, n, []*memory.Buffer{nil, x}, nil, 0, 0))
		ya := array.NewFloat64Data(array.NewData(arrow.PrimitiveTypes.Float64, n, []*memory.Buffer{nil, y}, nil, 0, 0))
		x.Release()
		y.Release()
		return array.NewRecordBatch(peers.MapSchema, []arrow.Array{a, b, c, xa, ya}, int64(n)), nil
	})

	// widen is row 4's map: each id becomes a row of eight 8-byte columns
	// (64 bytes), so that a Range of n rows streams 64n bytes.
	widen = data.BatchFunc("databench.widen", func(_ context.Context, rec arrow.RecordBatch) (arrow.RecordBatch, error) {
		id, ok := columnOf(rec, "id").(*array.Int64)
		if !ok {
			return nil, fmt.Errorf("%w: row 4's map wants an int64 id; the batch has %v", errRayo, rec.Schema())
		}
		ids := id.Int64Values()
		cols := []arrow.Array{id}
		fields := []arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}
		for j := range 7 {
			v := make([]float64, len(ids))
			for i, x := range ids {
				v[i] = float64(x) * float64(j+1)
			}
			cols = append(cols, array.NewFloat64Data(array.NewData(arrow.PrimitiveTypes.Float64, len(v),
				[]*memory.Buffer{nil, memory.NewBufferBytes(arrow.Float64Traits.CastToBytes(v))}, nil, 0, 0)))
			fields = append(fields, arrow.Field{Name: fmt.Sprintf("f%d", j), Type: arrow.PrimitiveTypes.Float64})
		}
		return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, int64(len(ids))), nil
	})
)

var errRayo = errors.New("databench: rayo row")

func columnOf(rec arrow.RecordBatch, name string) arrow.Array {
	idx := rec.Schema().FieldIndices(name)
	if len(idx) != 1 {
		return nil
	}
	return rec.Column(idx[0])
}

// serveIfWorker makes this process one of the embedded node's workers
// when the node started it (rayo.Init then serves tasks and never
// returns). DATABENCH_WORKER_CPUPROFILE=DIR profiles each worker's CPU
// for DATABENCH_WORKER_CPUPROFILE_SECONDS (default 30) into
// DIR/worker-PID.prof: workers are separate processes, so the driver's
// --cpuprofile does not see the rows' map, sort or aggregation.
func serveIfWorker() {
	if !rayo.IsWorker() {
		return
	}
	if dir := os.Getenv("DATABENCH_WORKER_CPUPROFILE"); dir != "" {
		secs, err := strconv.Atoi(os.Getenv("DATABENCH_WORKER_CPUPROFILE_SECONDS"))
		if err != nil || secs <= 0 {
			secs = 30
		}
		if f, err := os.Create(filepath.Join(dir, fmt.Sprintf("worker-%d.prof", os.Getpid()))); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				// Owned by the worker process: it stops the profile after
				// secs and ends; Init never returns to stop it.
				go func() {
					time.Sleep(time.Duration(secs) * time.Second)
					pprof.StopCPUProfile()
					f.Close()
				}()
			}
		}
	}
	_ = rayo.Init(context.Background()) // serves tasks; never returns
}

// rayoResults is the JSON the rayo subcommand writes.
type rayoResults struct {
	When    time.Time    `json:"when"`
	Machine machine      `json:"machine"`
	Scale   string       `json:"scale"`
	Peers   []string     `json:"peer_files"`
	Rows    []report.Row `json:"rows"`
	Row1    *rayoRow1    `json:"row1,omitempty"`
	Row2    []rayoRow2   `json:"row2,omitempty"`
	Row3    []rayoRow3   `json:"row3,omitempty"`
	Row4    *rayoRow4    `json:"row4,omitempty"`
}

type rayoRow1 struct {
	peers.Throughput
	Files     int   `json:"files_written"`
	PeakBytes int64 `json:"run_peak_bytes"`
	Budget    int64 `json:"budget_bytes"`
}

type rayoRow2 struct {
	Dataset string    `json:"dataset"`
	Seconds []float64 `json:"seconds"`
	Groups  int       `json:"groups"`
	Rows    int64     `json:"rows"`
	Sum     float64   `json:"sum_total"`
}

type rayoRow3 struct {
	What       string  `json:"what"`
	Seconds    float64 `json:"seconds"`
	Rows       int64   `json:"rows"`
	RunPeak    int64   `json:"run_peak_bytes"`
	StorePeak  int64   `json:"store_peak_bytes"` // sampled from /metrics
	Budget     int64   `json:"budget_bytes"`
	StoreBytes int64   `json:"store_capacity_bytes"`
	Spilled    int64   `json:"spilled_bytes"`
	Spills     int64   `json:"spills"`
}

type rayoRow4 struct {
	StreamBytes int64     `json:"stream_bytes"`
	Rows        int64     `json:"rows"`
	Seconds     float64   `json:"seconds"`
	StoreBytes  int64     `json:"store_capacity_bytes"`
	Budget      int64     `json:"budget_bytes"`
	RunPeak     int64     `json:"run_peak_bytes"`
	StorePeak   int64     `json:"store_peak_bytes"`
	Spilled     int64     `json:"spilled_bytes"`
	Spills      int64     `json:"spills"`
	RSS         []int64   `json:"rss_bytes"`      // VmRSS, sampled over the run
	RSSAnon     []int64   `json:"rss_anon_bytes"` // RssAnon: VmRSS less the store's shared pages and files
	RSSAt       []float64 `json:"rss_seconds"`
	Batches     int       `json:"batches"`
	Delay       string    `json:"delay_per_batch"`
}

// rayoConfig are the rayo subcommand's own settings.
type rayoConfig struct {
	peerFiles   string
	store       int64 // rows 1-3: the store (0: rayo's default)
	streamStore int64 // row 4: the store
	streamTimes float64
	delay       time.Duration
	workerProf  string
	stall       time.Duration // 0: rayo's default
	mapBatch    int           // rows 1 and 4's MapBatches BatchSize; -1: rayo's default (1024)
}

// mapOpts are rows 1 and 4's MapBatches options.
func (rc rayoConfig) mapOpts() []data.MapOption {
	if rc.mapBatch < 0 {
		return nil
	}
	return []data.MapOption{data.BatchSize(rc.mapBatch)}
}

// execOpts are every run's options: no progress lines, and a stall
// timeout only when --stall says (a diagnostic: the executor's idle tick
// is a tenth of it, at most a second).
func (rc rayoConfig) execOpts() []data.ExecOption {
	o := []data.ExecOption{data.Progress(data.ProgressQuiet, nil)}
	if rc.stall > 0 {
		o = append(o, data.StallTimeout(rc.stall))
	}
	return o
}

func runRayo(ctx context.Context, c config, rc rayoConfig) error {
	only := map[string]bool{}
	for _, o := range strings.Split(c.only, ",") {
		switch o = strings.TrimSpace(o); o {
		case "1", "2", "3", "4":
			only[o] = true
		default:
			return fmt.Errorf("%w: --only %q: want rows 1, 2, 3 or 4", errUsage, o)
		}
	}
	if rc.streamTimes <= 0 || rc.store < 0 || rc.streamStore <= 0 || rc.delay < 0 {
		return fmt.Errorf("%w: --stream-times, --store, --stream-store and --delay must be positive", errUsage)
	}
	m, err := dataset.Load(c.dir)
	if err != nil {
		return err
	}
	if c.jsonOut == "" {
		c.jsonOut = filepath.Join(c.dir, "rayo.json")
	}
	if rc.peerFiles == "" {
		rc.peerFiles = filepath.Join(c.dir, "peers.json")
	}
	peerRows, pandas, peerScale, files, err := loadPeers(rc.peerFiles)
	if err != nil {
		return err
	}
	if peerScale != "" && peerScale != m.Scale {
		fmt.Fprintf(os.Stderr, "databench: the peers in %s are at %s scale, the data at %s: no ratios\n", rc.peerFiles, peerScale, m.Scale)
		peerRows, pandas = nil, nil
	}
	outDir := filepath.Join(c.dir, "out-rayo")
	if err := os.RemoveAll(outDir); err != nil {
		return err
	}
	if !c.keep {
		defer os.RemoveAll(outDir)
	}
	res := rayoResults{
		When:    time.Now().UTC(),
		Machine: machine{CPUs: runtime.NumCPU(), Workers: c.workers, LoadStart: loadavg(), Go: runtime.Version()},
		Scale:   m.Scale,
		Peers:   files,
	}
	rmw, err := m.Dataset(dataset.RMW)
	if err != nil {
		return err
	}
	rmwSize := fmt.Sprintf("%.2f GB, %.1fM rows", float64(rmw.Bytes)/1e9, float64(rmw.Rows())/1e6)
	var mine []report.Row // rayo's figures, placed beside the peers' below

	if only["1"] || only["2"] || only["3"] {
		env := map[string]string{}
		if rc.workerProf != "" {
			env["DATABENCH_WORKER_CPUPROFILE"] = rc.workerProf
		}
		opts := []rayo.InitOption{rayo.WithDashboard("127.0.0.1:0"), rayo.WithLogToDriver(false), rayo.WithEnv(env)}
		if rc.store > 0 {
			opts = append(opts, rayo.WithObjectStoreMemory(rc.store))
		}
		if err := rayo.Init(ctx, opts...); err != nil {
			return fmt.Errorf("rayo.Init: %w", err)
		}
		err := func() error {
			defer rayo.Shutdown()
			if only["1"] {
				r, err := rayoRow1Run(ctx, m, filepath.Join(outDir, "row1"), rc.execOpts(), rc.mapOpts())
				if err != nil {
					return fmt.Errorf("row 1: %w", err)
				}
				res.Row1 = r
				v := r.RowsPerSecond()
				mine = append(mine, report.Row{Row: "1", What: "Parquet read → map (x=a*2+b, y=c-b) → Parquet write, " + rmwSize,
					Unit: "rows/s", Rayo: &v,
					RayoExtra: fmt.Sprintf("%.3f GB/s read, %.1f s, %.2f GB written, run peak %s", r.GBPerSecond(), r.Seconds, float64(r.OutBytes)/1e9, mib(r.PeakBytes))})
			}
			if only["2"] {
				for _, name := range []string{dataset.GB10M, dataset.GB1M} {
					r, err := rayoRow2Run(ctx, m, name, c.reps, pandas, rc.execOpts())
					if err != nil {
						return fmt.Errorf("row 2 (%s): %w", name, err)
					}
					res.Row2 = append(res.Row2, *r)
					e, _ := m.Dataset(name)
					v := median(r.Seconds)
					mine = append(mine, report.Row{Row: "2", What: fmt.Sprintf("group-by sum, mean, count: %.1fM rows into %d keys", float64(e.Rows())/1e6, e.Keys),
						Unit: "s", Rayo: &v, RayoExtra: fmt.Sprintf("median of %d", len(r.Seconds))})
				}
			}
			if only["3"] {
				for _, s := range []struct{ by, what string }{{"a", "sort by a"}, {"", "random shuffle"}} {
					r, err := rayoRow3Run(ctx, m, s.by, s.what, filepath.Join(outDir, "row3"), rc.execOpts())
					if err != nil {
						return fmt.Errorf("row 3 (%s): %w", s.what, err)
					}
					res.Row3 = append(res.Row3, *r)
					v := r.Seconds
					mine = append(mine, report.Row{Row: "3", What: s.what + ", " + rmwSize, Unit: "s", Rayo: &v,
						RayoExtra: fmt.Sprintf("→ WriteParquet; store peak %s (sampled), run peak %s, budget %s, store %s, %d spills",
							mib(r.StorePeak), mib(r.RunPeak), mib(r.Budget), mib(r.StoreBytes), r.Spills)})
				}
			}
			return nil
		}()
		if err != nil {
			return err
		}
	}

	if only["4"] {
		if err := rayo.Init(ctx, rayo.WithDashboard("127.0.0.1:0"), rayo.WithLogToDriver(false),
			rayo.WithObjectStoreMemory(rc.streamStore)); err != nil {
			return fmt.Errorf("rayo.Init: %w", err)
		}
		r, err := rayoRow4Run(ctx, int64(float64(rc.streamStore)*rc.streamTimes), rc.streamStore, rc.delay, rc.execOpts(), rc.mapOpts())
		rayo.Shutdown()
		if err != nil {
			return fmt.Errorf("row 4: %w", err)
		}
		res.Row4 = r
	}

	res.Rows = place(peerRows, mine)
	res.Machine.LoadEnd = loadavg()
	fmt.Printf("databench rayo, %s scale, %d CPUs, load average %s at start and %s at end; peers from %s\n\n",
		m.Scale, res.Machine.CPUs, res.Machine.LoadStart, res.Machine.LoadEnd, strings.Join(files, ", "))
	report.Markdown(os.Stdout, res.Rows)
	if r := res.Row4; r != nil {
		fmt.Printf("\nRow 4: %s streamed (%.1f× the store) through MapBatches into IterBatches with %s per batch (%d batches) in %.1f s\n",
			mib(r.StreamBytes), float64(r.StreamBytes)/float64(r.StoreBytes), r.Delay, r.Batches, r.Seconds)
		fmt.Printf("\n| store capacity | run budget | run peak (Stats) | store peak (/metrics, sampled) | spilled | driver VmRSS min / median / max | driver RssAnon min / median / max |\n|---|---|---|---|---|---|---|\n")
		lo, mid, hi := spread(r.RSS)
		alo, amid, ahi := spread(r.RSSAnon)
		fmt.Printf("| %s | %s | %s | %s | %s in %d spills | %s / %s / %s | %s / %s / %s |\n", mib(r.StoreBytes), mib(r.Budget), mib(r.RunPeak), mib(r.StorePeak),
			mib(r.Spilled), r.Spills, mib(lo), mib(mid), mib(hi), mib(alo), mib(amid), mib(ahi))
		fmt.Print("\ndriver VmRSS (RssAnon) over time:")
		step := max(1, len(r.RSS)/12)
		for i := 0; i < len(r.RSS); i += step {
			fmt.Printf(" %.1fs %s (%s);", r.RSSAt[i], mib(r.RSS[i]), mib(r.RSSAnon[i]))
		}
		fmt.Println()
	}
	if err := report.WriteJSON(c.jsonOut, res); err != nil {
		return err
	}
	fmt.Printf("\nJSON: %s\n", c.jsonOut)
	return nil
}

// loadPeers reads the rows of the peers' JSON files (comma-separated),
// later files' rows replacing earlier ones with the same row, work and
// peer.
func loadPeers(list string) ([]report.Row, map[string][]peers.PandasResult, string, []string, error) {
	var rows []report.Row
	pandas := map[string][]peers.PandasResult{}
	var scale string
	var files []string
	for _, f := range strings.Split(list, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		var r results
		if err := report.ReadJSON(f, &r); err != nil {
			return nil, nil, "", nil, err
		}
		if scale != "" && r.Scale != scale {
			return nil, nil, "", nil, fmt.Errorf("%w: %s is at %s scale, the other peers at %s", errUsage, f, r.Scale, scale)
		}
		scale = r.Scale
		files = append(files, f)
		for k, v := range r.Pandas {
			pandas[k] = v
		}
		for _, row := range r.Rows {
			i := slices.IndexFunc(rows, func(o report.Row) bool { return o.Row == row.Row && o.What == row.What && o.Peer == row.Peer })
			if i >= 0 {
				rows[i] = row
			} else {
				rows = append(rows, row)
			}
		}
	}
	return rows, pandas, scale, files, nil
}

// place sets rayo's figures on the peers' rows of the same work (for row
// 3 only the Parquet sinks, which is what rayo's row writes) and adds a
// row of their own for figures without a peer.
func place(peerRows, mine []report.Row) []report.Row {
	out := slices.Clone(peerRows)
	for _, r := range mine {
		found := false
		for i := range out {
			if out[i].Row != r.Row || out[i].What != r.What || (r.Row == "3" && !strings.Contains(out[i].Peer, "Parquet")) {
				continue
			}
			out[i].Rayo, out[i].RayoExtra = r.Rayo, r.RayoExtra
			found = true
		}
		if !found {
			r.Peer = "(no peer measured)"
			out = append(out, r)
		}
	}
	slices.SortStableFunc(out, func(a, b report.Row) int { return strings.Compare(a.Row, b.Row) })
	return out
}

func rayoRow1Run(ctx context.Context, m *dataset.Manifest, out string, opts []data.ExecOption, mopts []data.MapOption) (*rayoRow1, error) {
	in, err := m.Paths(dataset.RMW)
	if err != nil {
		return nil, err
	}
	e, _ := m.Dataset(dataset.RMW)
	start := time.Now()
	ds := data.ReadParquet(in).MapBatches(mapXY, mopts...).WithOptions(opts...)
	// One output file per input file, as the floor writes, with its
	// writer settings (snappy, no dictionaries, row groups of 1Mi rows).
	written, err := ds.WriteParquet(ctx, out, data.MaxRowsPerFile(e.RowsPerFile), data.ParquetDictionary(false))
	if err != nil {
		return nil, err
	}
	secs := time.Since(start).Seconds()
	var outBytes int64
	for _, f := range written {
		st, err := os.Stat(f)
		if err != nil {
			return nil, err
		}
		outBytes += st.Size()
	}
	n, err := data.ReadParquet(written).Count(ctx)
	if err != nil {
		return nil, err
	}
	if n != e.Rows() {
		return nil, fmt.Errorf("%w: wrote %d rows, want %d", errRayo, n, e.Rows())
	}
	st := ds.Stats()
	os.RemoveAll(out)
	return &rayoRow1{Throughput: peers.Throughput{Files: len(in), Rows: n, InBytes: e.Bytes, OutBytes: outBytes, Seconds: secs},
		Files: len(written), PeakBytes: st.PeakBytes, Budget: st.Budget}, nil
}

func rayoRow2Run(ctx context.Context, m *dataset.Manifest, name string, reps int, check map[string][]peers.PandasResult, opts []data.ExecOption) (*rayoRow2, error) {
	in, err := m.Paths(name)
	if err != nil {
		return nil, err
	}
	e, _ := m.Dataset(name)
	r := &rayoRow2{Dataset: name}
	for range reps {
		start := time.Now()
		ds := data.ReadParquet(in).GroupBy("k").Aggregate(data.Sum("v"), data.Mean("v"), data.Count()).WithOptions(opts...)
		// The result in the driver: every group copied into Go slices, as
		// DuckDB's Arrow peer does.
		var keys []int64
		var sums, means []float64
		var counts []int64
		for rec, err := range ds.IterBatches(ctx, data.IterBatchSize(0)) {
			if err != nil {
				return nil, err
			}
			if rec.NumCols() != 4 {
				return nil, fmt.Errorf("%w: the aggregate has columns %v, want k, sum, mean, count", errRayo, rec.Schema())
			}
			k, ok1 := rec.Column(0).(*array.Int64)
			s, ok2 := rec.Column(1).(*array.Float64)
			mn, ok3 := rec.Column(2).(*array.Float64)
			if !ok1 || !ok2 || !ok3 {
				return nil, fmt.Errorf("%w: the aggregate's columns are %v", errRayo, rec.Schema())
			}
			keys = append(keys, k.Int64Values()...)
			sums = append(sums, s.Float64Values()...)
			means = append(means, mn.Float64Values()...)
			switch cn := rec.Column(3).(type) {
			case *array.Int64:
				counts = append(counts, cn.Int64Values()...)
			case *array.Uint64:
				for _, v := range cn.Uint64Values() {
					counts = append(counts, int64(v))
				}
			default:
				return nil, fmt.Errorf("%w: the count column is %v", errRayo, cn.DataType())
			}
		}
		r.Seconds = append(r.Seconds, time.Since(start).Seconds())
		r.Groups, r.Rows, r.Sum = len(keys), 0, 0
		for i := range keys {
			r.Rows += counts[i]
			r.Sum += sums[i]
		}
		if r.Groups > int(e.Keys) || r.Rows != e.Rows() {
			return nil, fmt.Errorf("%w: %s: %d groups, %d rows; want at most %d groups, %d rows", errRayo, name, r.Groups, r.Rows, e.Keys, e.Rows())
		}
		// The peers' answer, where pandas gave one: rayo's figure must not
		// come from a wrong result.
		for _, p := range check[name] {
			if p.Groups != r.Groups || p.CountTotal != r.Rows || math.Abs(p.SumTotal-r.Sum) > 1e-9*math.Abs(p.SumTotal) {
				return nil, fmt.Errorf("%w: %s: rayo gives %d groups, %d rows, sum %g; pandas %d groups, %d rows, sum %g",
					errRayo, name, r.Groups, r.Rows, r.Sum, p.Groups, p.CountTotal, p.SumTotal)
			}
		}
	}
	return r, nil
}

func rayoRow3Run(ctx context.Context, m *dataset.Manifest, by, what, out string, opts []data.ExecOption) (*rayoRow3, error) {
	in, err := m.Paths(dataset.RMW)
	if err != nil {
		return nil, err
	}
	e, _ := m.Dataset(dataset.RMW)
	os.RemoveAll(out)
	ds := data.ReadParquet(in)
	if by != "" {
		ds = ds.Sort(data.Asc(by))
	} else {
		ds = ds.RandomShuffle(16)
	}
	ds = ds.WithOptions(opts...)
	s := newSampler()
	before := s.sampleNow()
	start := time.Now()
	written, err := ds.WriteParquet(ctx, out, data.ParquetDictionary(false))
	secs := time.Since(start).Seconds()
	peak, after := s.stop()
	if err != nil {
		return nil, err
	}
	n, err := data.ReadParquet(written).Count(ctx)
	if err != nil {
		return nil, err
	}
	if n != e.Rows() {
		return nil, fmt.Errorf("%w: %s wrote %d rows, want %d", errRayo, what, n, e.Rows())
	}
	os.RemoveAll(out)
	st := ds.Stats()
	return &rayoRow3{What: what, Seconds: secs, Rows: n, RunPeak: st.PeakBytes, StorePeak: peak.used, Budget: st.Budget,
		StoreBytes: after.capacity, Spilled: after.spilled - before.spilled, Spills: after.spills - before.spills}, nil
}

func rayoRow4Run(ctx context.Context, bytes, store int64, delay time.Duration, opts []data.ExecOption, mopts []data.MapOption) (*rayoRow4, error) {
	const rowBytes = 64 // widen's eight 8-byte columns
	n := bytes / rowBytes
	ds := data.Range(n).MapBatches(widen, mopts...).WithOptions(opts...)
	s := newSampler()
	before := s.sampleNow()
	start := time.Now()
	var rows int64
	batches := 0
	var err error
	for rec, e := range ds.IterBatches(ctx, data.IterBatchSize(1<<16)) {
		if e != nil {
			err = e
			break
		}
		rows += rec.NumRows()
		batches++
		// The slow consumer: producers must wait for it, not fill the store.
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			err = ctx.Err()
		}
		if err != nil {
			break
		}
	}
	secs := time.Since(start).Seconds()
	peak, after := s.stop()
	if err != nil {
		return nil, err
	}
	if rows != n {
		return nil, fmt.Errorf("%w: streamed %d rows, want %d", errRayo, rows, n)
	}
	st := ds.Stats()
	return &rayoRow4{StreamBytes: n * rowBytes, Rows: n, Seconds: secs, StoreBytes: after.capacity, Budget: st.Budget, RunPeak: st.PeakBytes,
		StorePeak: peak.used, Spilled: after.spilled - before.spilled, Spills: after.spills - before.spills,
		RSS: s.rss, RSSAnon: s.anon, RSSAt: s.at, Batches: batches, Delay: delay.String()}, nil
}

// storeSample is one reading of the node's object-store metrics.
type storeSample struct {
	used, capacity, spilled, spills int64
}

// sampler reads the node's /metrics and the driver's RSS every 50 ms
// until stop; its goroutine is owned by the row that made it.
type sampler struct {
	done chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
	peak storeSample
	last storeSample
	rss  []int64
	anon []int64
	at   []float64
	url  string
	err  error
}

func newSampler() *sampler {
	s := &sampler{done: make(chan struct{}), url: "http://" + rayo.DashboardAddress() + "/metrics"}
	start := time.Now()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			s.sampleNow()
			if r, anon := rss(); r > 0 {
				s.mu.Lock()
				s.rss = append(s.rss, r)
				s.anon = append(s.anon, anon)
				s.at = append(s.at, time.Since(start).Seconds())
				s.mu.Unlock()
			}
			select {
			case <-s.done:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// sampleNow reads the metrics once, keeping the peak of used bytes.
func (s *sampler) sampleNow() storeSample {
	v, err := storeMetrics(s.url)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.err = err
		return s.last
	}
	s.last = v
	s.peak.used = max(s.peak.used, v.used)
	return v
}

// stop ends the sampling and returns the peak and a last reading.
func (s *sampler) stop() (storeSample, storeSample) {
	close(s.done)
	s.wg.Wait()
	last := s.sampleNow()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		fmt.Fprintln(os.Stderr, "databench: sampling", s.url, ":", s.err)
	}
	return s.peak, last
}

// metricsClient keeps no idle connections: a sample every 50 ms is cheap
// to dial on loopback, and no connection goroutine outlives a row.
var metricsClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// storeMetrics reads the object-store gauges from a node's Prometheus
// text (summed over label sets, one per node).
func storeMetrics(url string) (storeSample, error) {
	resp, err := metricsClient.Get(url)
	if err != nil {
		return storeSample{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return storeSample{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return storeSample{}, fmt.Errorf("%w: GET %s: %s", errRayo, url, resp.Status)
	}
	return parseStore(string(b)), nil
}

func parseStore(text string) storeSample {
	var s storeSample
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, rest, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if i := strings.IndexByte(name, '{'); i >= 0 {
			// Labels may hold spaces: the value is the last field.
			name = name[:i]
			rest = line[strings.LastIndexByte(line, ' ')+1:]
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		if err != nil || math.IsNaN(v) {
			continue
		}
		switch name {
		case "rayo_object_store_used_bytes":
			s.used += int64(v)
		case "rayo_object_store_capacity_bytes":
			s.capacity += int64(v)
		case "rayo_object_store_spilled_bytes":
			s.spilled += int64(v)
		case "rayo_object_store_spills_total":
			s.spills += int64(v)
		}
	}
	return s
}

// rss is this process's resident set (VmRSS) and its anonymous part
// (RssAnon: the Go heap and other private memory, without the object
// store's shared pages that reading blocks in place maps), in bytes; 0 if
// unknown.
func rss() (total, anon int64) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || (name != "VmRSS" && name != "RssAnon") {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		kb, _ := strconv.ParseInt(f[0], 10, 64)
		if name == "VmRSS" {
			total = kb << 10
		} else {
			anon = kb << 10
		}
	}
	return total, anon
}

func spread(v []int64) (lo, mid, hi int64) {
	if len(v) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[0], s[len(s)/2], s[len(s)-1]
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

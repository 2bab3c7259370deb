// Command databench generates the data of issue 16's Data benchmark and
// measures the peers that rayo Data's rows are compared with: the arrow-go
// floor of row 1, DuckDB (rows 2 and 3) and pandas (row 2).
//
//	cd bench/data
//	go run ./cmd/databench --dir /tmp/databench --scale small gen
//	go run ./cmd/databench --dir /tmp/databench peers
//
// peers prints a markdown table and writes JSON (--json, default
// DIR/peers.json). See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/rayo-dev/rayo/bench/data/dataset"
	"github.com/rayo-dev/rayo/bench/data/peers"
	"github.com/rayo-dev/rayo/bench/data/report"
)

var errUsage = errors.New("databench: usage")

func main() {
	serveIfWorker()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

type config struct {
	dir     string
	scale   string
	seed    uint64
	workers int
	reps    int
	only    string
	jsonOut string
	script  string
	keep    bool
	cpuprof string
	rayo    rayoConfig
}

func run(ctx context.Context, args []string) error {
	var c config
	fs := flag.NewFlagSet("databench", flag.ContinueOnError)
	fs.StringVar(&c.dir, "dir", "/tmp/databench", "data directory")
	fs.StringVar(&c.scale, "scale", "small", "gen: small (100x fewer rows) or full")
	fs.Uint64Var(&c.seed, "seed", 16, "gen: random seed")
	fs.IntVar(&c.workers, "workers", runtime.NumCPU(), "goroutines (gen, floor) and DuckDB threads")
	fs.IntVar(&c.reps, "reps", 3, "peers: group-by repetitions (the median is reported)")
	fs.StringVar(&c.only, "only", "floor,duckdb,pandas,sort", "peers: which to run (comma-separated); rayo: which rows (default 1,2,3,4)")
	fs.StringVar(&c.jsonOut, "json", "", "peers: JSON output (default DIR/peers.json)")
	fs.StringVar(&c.script, "pandas-script", "pandas_groupby.py", "peers: the pandas script")
	fs.BoolVar(&c.keep, "keep", false, "peers: keep the outputs under DIR/out")
	fs.StringVar(&c.cpuprof, "cpuprofile", "", "write a CPU profile of the run to this file")
	fs.StringVar(&c.rayo.peerFiles, "peers", "", "rayo: the peers' JSON files, comma-separated (default DIR/peers.json)")
	fs.Int64Var(&c.rayo.store, "store", 0, "rayo: rows 1-3's object store, bytes (0: rayo's default, 30% of memory)")
	fs.Int64Var(&c.rayo.streamStore, "stream-store", 512<<20, "rayo: row 4's object store, bytes")
	fs.Float64Var(&c.rayo.streamTimes, "stream-times", 10, "rayo: row 4 streams this many times its store")
	fs.DurationVar(&c.rayo.delay, "delay", 20*time.Millisecond, "rayo: row 4's consumer's delay per batch of 65,536 rows (4 MiB)")
	fs.StringVar(&c.rayo.workerProf, "worker-cpuprofile", "", "rayo: profile every worker's CPU into this directory (rows 1-3)")
	fs.DurationVar(&c.rayo.stall, "stall", 0, "rayo: the runs' StallTimeout (0: rayo's default; a diagnostic, the executor ticks at a tenth of it)")
	fs.IntVar(&c.rayo.mapBatch, "map-batch", -1, "rayo: rows 1 and 4's MapBatches BatchSize (-1: rayo's default, 1024; 0: whole blocks)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: databench [flags] gen|peers|rayo")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return fmt.Errorf("%w: want one subcommand, gen, peers or rayo", errUsage)
	}
	if c.reps < 1 {
		return fmt.Errorf("%w: --reps %d", errUsage, c.reps)
	}
	if c.cpuprof != "" {
		f, err := os.Create(c.cpuprof)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	switch fs.Arg(0) {
	case "gen":
		return gen(ctx, c)
	case "peers":
		return runPeers(ctx, c)
	case "rayo":
		onlySet := false
		fs.Visit(func(f *flag.Flag) { onlySet = onlySet || f.Name == "only" })
		if !onlySet {
			c.only = "1,2,3,4"
		}
		return runRayo(ctx, c, c.rayo)
	}
	return fmt.Errorf("%w: unknown subcommand %q", errUsage, fs.Arg(0))
}

func gen(ctx context.Context, c config) error {
	specs, err := dataset.Specs(c.scale)
	if err != nil {
		return err
	}
	start := time.Now()
	m, err := dataset.Generate(ctx, c.dir, c.scale, specs, c.seed, c.workers)
	if err != nil {
		return err
	}
	fmt.Printf("generated %s scale in %s in %.1f s (%d goroutines):\n", c.scale, c.dir, time.Since(start).Seconds(), c.workers)
	for _, s := range specs {
		e := m.Datasets[s.Name]
		fmt.Printf("  %-6s %11d rows  %3d files  %8.1f MB Parquet", e.Name, e.Rows(), len(e.Files), float64(e.Bytes)/1e6)
		if e.CSVFile != "" {
			fmt.Printf("  %8.1f MB CSV", float64(e.CSVBytes)/1e6)
		}
		fmt.Println()
	}
	return nil
}

// results is the JSON the peers subcommand writes.
type results struct {
	When     time.Time                       `json:"when"`
	Machine  machine                         `json:"machine"`
	Scale    string                          `json:"scale"`
	Datasets map[string]*dataset.Entry       `json:"datasets"`
	Rows     []report.Row                    `json:"rows"`
	Floor    *peers.Throughput               `json:"floor,omitempty"`
	Pandas   map[string][]peers.PandasResult `json:"pandas,omitempty"`
	DuckDB   map[string][]float64            `json:"duckdb_seconds,omitempty"`
}

type machine struct {
	CPUs      int    `json:"cpus"`
	Workers   int    `json:"workers"`
	LoadStart string `json:"loadavg_start"`
	LoadEnd   string `json:"loadavg_end"`
	Go        string `json:"go"`
	DuckDB    string `json:"duckdb,omitempty"`
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func runPeers(ctx context.Context, c config) error {
	only := map[string]bool{}
	for _, o := range strings.Split(c.only, ",") {
		switch o = strings.TrimSpace(o); o {
		case "floor", "duckdb", "pandas", "sort":
			only[o] = true
		default:
			return fmt.Errorf("%w: --only %q: want floor, duckdb, pandas or sort", errUsage, o)
		}
	}
	m, err := dataset.Load(c.dir)
	if err != nil {
		return err
	}
	if c.jsonOut == "" {
		c.jsonOut = filepath.Join(c.dir, "peers.json")
	}
	outDir := filepath.Join(c.dir, "out")
	if err := os.RemoveAll(outDir); err != nil {
		return err
	}
	if !c.keep {
		defer os.RemoveAll(outDir)
	}
	res := results{
		When:     time.Now().UTC(),
		Machine:  machine{CPUs: runtime.NumCPU(), Workers: c.workers, LoadStart: loadavg(), Go: runtime.Version()},
		Scale:    m.Scale,
		Datasets: m.Datasets,
		Pandas:   map[string][]peers.PandasResult{},
		DuckDB:   map[string][]float64{},
	}
	rmw, err := m.Dataset(dataset.RMW)
	if err != nil {
		return err
	}
	rmwSize := fmt.Sprintf("%.2f GB, %.1fM rows", float64(rmw.Bytes)/1e9, float64(rmw.Rows())/1e6)

	if only["floor"] {
		in, err := m.Paths(dataset.RMW)
		if err != nil {
			return err
		}
		t, err := peers.Floor(ctx, in, filepath.Join(outDir, "floor"), c.workers, rmw.RowGroup)
		if err != nil {
			return err
		}
		res.Floor = &t
		res.Rows = append(res.Rows, report.Row{
			Row: "1", What: "Parquet read → map (x=a*2+b, y=c-b) → Parquet write, " + rmwSize,
			Unit: "rows/s", Peer: fmt.Sprintf("floor: arrow-go pqarrow, a goroutine per file, %d at a time", t.Workers),
			PeerFigure: t.RowsPerSecond(),
			Extra:      fmt.Sprintf("%.3f GB/s read, %.1f s, %.2f GB written", t.GBPerSecond(), t.Seconds, float64(t.OutBytes)/1e9),
		})
		os.RemoveAll(filepath.Join(outDir, "floor"))
	}

	var duck *peers.DuckDB
	if only["duckdb"] || only["sort"] {
		tmp := filepath.Join(outDir, "duckdb_tmp")
		if err := os.MkdirAll(tmp, 0o755); err != nil {
			return err
		}
		duck, err = peers.OpenDuckDB(ctx, tmp, c.workers)
		if err != nil {
			return err
		}
		defer duck.Close()
		if res.Machine.DuckDB, err = duck.Version(ctx); err != nil {
			return err
		}
	}

	for _, name := range []string{dataset.GB10M, dataset.GB1M} {
		e, err := m.Dataset(name)
		if err != nil {
			return err
		}
		what := fmt.Sprintf("group-by sum, mean, count: %.1fM rows into %d keys", float64(e.Rows())/1e6, e.Keys)
		var duckGroups peers.Groups
		if only["duckdb"] {
			glob, err := m.Glob(name)
			if err != nil {
				return err
			}
			var secs, engine []float64
			for range c.reps {
				g, s, err := duck.GroupBy(ctx, glob)
				if err != nil {
					return err
				}
				duckGroups = g
				secs = append(secs, s)
				s, err = duck.GroupByInEngine(ctx, glob)
				if err != nil {
					return err
				}
				engine = append(engine, s)
			}
			res.DuckDB[name+"_groupby"] = secs
			res.DuckDB[name+"_groupby_in_engine"] = engine
			res.Rows = append(res.Rows, report.Row{
				Row: "2", What: what, Unit: "s", Peer: "DuckDB: read_parquet → GROUP BY → rows scanned into Go slices (database/sql)",
				PeerFigure: median(secs), Extra: fmt.Sprintf("in-engine only %.3f s", median(engine)),
				Note: fmt.Sprintf("median of %d", c.reps),
			})
			if peers.ArrowBuilt {
				var arrowSecs []float64
				for range c.reps {
					g, s, err := duck.GroupByArrow(ctx, glob)
					if err != nil {
						return err
					}
					if gn, rn, _ := g.Totals(); gn != len(duckGroups.Keys) || rn != e.Rows() {
						return fmt.Errorf("databench: %s: DuckDB's Arrow result has %d groups, %d rows; database/sql's %d groups, want %d rows",
							name, gn, rn, len(duckGroups.Keys), e.Rows())
					}
					arrowSecs = append(arrowSecs, s)
				}
				res.DuckDB[name+"_groupby_arrow"] = arrowSecs
				res.Rows = append(res.Rows, report.Row{
					Row: "2", What: what, Unit: "s", Peer: "DuckDB: read_parquet → GROUP BY → Arrow batches copied into Go slices",
					PeerFigure: median(arrowSecs), Note: fmt.Sprintf("median of %d", c.reps),
				})
			}
		}
		if only["pandas"] {
			csv, err := m.CSVPath(name)
			if err != nil {
				return err
			}
			var agg, load []float64
			for range c.reps {
				p, err := peers.Pandas(ctx, c.script, csv)
				if err != nil {
					return err
				}
				res.Pandas[name] = append(res.Pandas[name], p)
				agg = append(agg, p.AggSecond)
				load = append(load, p.LoadSecond)
				if duckGroups.Keys != nil {
					if err := sameGroups(name, duckGroups, p); err != nil {
						return err
					}
				}
			}
			res.Rows = append(res.Rows, report.Row{
				Row: "2", What: what, Unit: "s", Peer: "pandas " + res.Pandas[name][0].Version + ": groupby(k).v.agg (CSV load timed apart)",
				PeerFigure: median(agg), Extra: fmt.Sprintf("read_csv %.3f s", median(load)),
				Note: fmt.Sprintf("median of %d", c.reps),
			})
		}
	}

	if only["sort"] {
		glob, err := m.Glob(dataset.RMW)
		if err != nil {
			return err
		}
		for _, s := range []struct{ by, what string }{{"a", "sort by a"}, {"", "random shuffle"}} {
			for _, toTable := range []bool{false, true} {
				out := filepath.Join(outDir, "duckdb_sorted.parquet")
				secs, n, err := duck.Sort(ctx, glob, s.by, out, toTable)
				if err != nil {
					return err
				}
				os.Remove(out)
				if n != rmw.Rows() {
					return fmt.Errorf("databench: DuckDB %s wrote %d rows, want %d", s.what, n, rmw.Rows())
				}
				order := "ORDER BY random()"
				if s.by != "" {
					order = "ORDER BY " + s.by
				}
				sink := "COPY to one snappy Parquet file"
				if toTable {
					sink = "CREATE TABLE in memory"
				}
				res.DuckDB[fmt.Sprintf("%s_%s", strings.ReplaceAll(s.what, " ", "_"), map[bool]string{false: "parquet", true: "table"}[toTable])] = []float64{secs}
				res.Rows = append(res.Rows, report.Row{
					Row: "3", What: s.what + ", " + rmwSize, Unit: "s",
					Peer: "DuckDB: read_parquet → " + order + " → " + sink, PeerFigure: secs,
				})
			}
		}
	}

	res.Machine.LoadEnd = loadavg()
	fmt.Printf("databench peers, %s scale, %d CPUs, %d workers, load average %s at start and %s at end\n\n",
		m.Scale, res.Machine.CPUs, c.workers, res.Machine.LoadStart, res.Machine.LoadEnd)
	report.Markdown(os.Stdout, res.Rows)
	if err := report.WriteJSON(c.jsonOut, res); err != nil {
		return err
	}
	fmt.Printf("\nJSON: %s\n", c.jsonOut)
	return nil
}

// sameGroups checks that DuckDB and pandas agree on a group-by (number of
// groups, rows counted, total of the sums), so that neither peer's figure
// comes from a wrong answer.
func sameGroups(name string, g peers.Groups, p peers.PandasResult) error {
	groups, rows, sum := g.Totals()
	if groups != p.Groups || rows != p.CountTotal || rows != p.Rows ||
		math.Abs(sum-p.SumTotal) > 1e-9*math.Abs(sum) {
		return fmt.Errorf("databench: %s: DuckDB gives %d groups, %d rows, sum %g; pandas %d groups, %d rows, sum %g",
			name, groups, rows, sum, p.Groups, p.CountTotal, p.SumTotal)
	}
	return nil
}

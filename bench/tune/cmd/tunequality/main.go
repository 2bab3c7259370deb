// Command tunequality judges package tune's searchers on standard test
// functions (the performance table's row 3): for each objective of
// bench/tune/objectives and each searcher named by -searchers, it runs
// -seeds searches of -trials trials each, in process, through the
// tune.Searcher interface (Setup, then Suggest, evaluate,
// OnTrialComplete), and prints the median and interquartile range of the
// best value found per seed.
//
// With -optuna it also runs bench/tune/optuna_quality.py (Optuna's
// TPESampler on the same functions, bounds, trial count and seeds) and
// prints the two side by side with a verdict. A searcher is "no worse
// beyond noise" than its Optuna counterpart unless a one-sided
// Mann-Whitney U test on the per-seed bests finds its values larger
// (worse), at a family-wise level -alpha (0.05) over the table's rows
// (Holm's correction: six rows, six chances of a false alarm); "better"
// when the reverse test does.
//
//	go run ./bench/tune/cmd/tunequality -optuna
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/rayo-dev/rayo/bench/tune/objectives"
	"github.com/rayo-dev/rayo/tune"
)

func main() {
	var (
		names      = flag.String("searchers", "tpe,tpe-multivariate", "searchers to judge, comma-separated: "+strings.Join(sortedKeys(searchers), ", "))
		objNames   = flag.String("objectives", "branin,hartmann6,rosenbrock10", "objectives, comma-separated")
		trials     = flag.Int("trials", 100, "trials per search")
		seeds      = flag.Int("seeds", 20, "searches per objective and searcher")
		firstSeed  = flag.Int64("first-seed", 1, "the first search's seed (Optuna's always start at 1); another shows the verdict's sensitivity to the seeds")
		withOptuna = flag.Bool("optuna", false, "also run Optuna's TPESampler (bench/tune/optuna_quality.py) and compare")
		python     = flag.String("python", "/usr/bin/python3", "Python with optuna 3.1")
		script     = flag.String("script", "bench/tune/optuna_quality.py", "the Optuna script")
		optunaJSON = flag.String("optuna-json", "", "read Optuna's results from this file (the script's output) instead of running it")
		alpha      = flag.Float64("alpha", 0.05, "significance level of the verdict")
		versus     = flag.String("versus", "", "also judge each searcher against this one of ours (e.g. -searchers gp,random -versus random)")
	)
	flag.Parse()
	if err := run(strings.Split(*names, ","), strings.Split(*objNames, ","), *trials, *seeds, *firstSeed,
		*withOptuna || *optunaJSON != "", *python, *script, *optunaJSON, *alpha, *versus); err != nil {
		fmt.Fprintln(os.Stderr, "tunequality:", err)
		os.Exit(1)
	}
}

// optunaResults is optuna_quality.py's output.
type optunaResults struct {
	Version string                          `json:"optuna"`
	Trials  int                             `json:"trials"`
	Check   map[string]float64              `json:"check"`
	Bests   map[string]map[string][]float64 `json:"bests"`
}

func run(names, objNames []string, trials, seeds int, firstSeed int64, withOptuna bool, python, script, optunaJSON string, alpha float64, versus string) error {
	var objs []objectives.Objective
	for _, n := range objNames {
		o, ok := objectives.All[n]
		if !ok {
			return fmt.Errorf("unknown objective %q (have %s)", n, strings.Join(sortedKeys(objectives.All), ", "))
		}
		objs = append(objs, o)
	}
	for _, n := range names {
		if _, ok := searchers[n]; !ok {
			return fmt.Errorf("unknown searcher %q (have %s)", n, strings.Join(sortedKeys(searchers), ", "))
		}
	}
	var opt *optunaResults
	if withOptuna {
		var err error
		if opt, err = loadOptuna(python, script, optunaJSON, objNames, trials, seeds); err != nil {
			return err
		}
		if err := checkSameFunctions(objs, opt); err != nil {
			return err
		}
	}

	type row struct {
		obj             objectives.Objective
		name            string
		ours, theirs    []float64
		pWorse, pBetter float64
	}
	var rows []row
	for _, o := range objs {
		for _, n := range names {
			bests := make([]float64, seeds)
			for i := range bests {
				seed := firstSeed + int64(i)
				b, err := search(searchers[n](seed), o, trials, seed)
				if err != nil {
					return fmt.Errorf("%s on %s, seed %d: %w", n, o.Name, seed, err)
				}
				bests[i] = b
			}
			r := row{obj: o, name: n, ours: bests, pWorse: math.NaN(), pBetter: math.NaN()}
			if opt != nil {
				r.theirs = opt.Bests[o.Name][optunaNames[n]]
				if len(r.theirs) > 0 {
					r.pWorse = mannWhitneyGreater(r.ours, r.theirs)
					r.pBetter = mannWhitneyGreater(r.theirs, r.ours)
				}
			}
			rows = append(rows, r)
		}
	}
	// The verdicts hold for the whole table at once: Holm's correction
	// for testing every row.
	var pWorse, pBetter []float64
	for _, r := range rows {
		pWorse, pBetter = append(pWorse, r.pWorse), append(pBetter, r.pBetter)
	}
	holmWorse, holmBetter := holm(pWorse), holm(pBetter)

	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	header := "objective\tknown min\tsearcher\tmedian best\tIQR\t"
	if opt != nil {
		header += "optuna " + opt.Version + "\toptuna IQR\tp(worse)\tHolm p\tverdict\t"
	}
	fmt.Fprintln(w, header)
	for i, r := range rows {
		line := fmt.Sprintf("%s\t%.5g\t%s\t%.5g\t%s\t", r.obj.Name, r.obj.Min, r.name, quantile(r.ours, 0.5), iqr(r.ours))
		if opt != nil {
			if len(r.theirs) == 0 {
				line += "-\t-\t-\t-\tno Optuna counterpart\t"
			} else {
				verdict := "no worse beyond noise"
				switch {
				case holmWorse[i] < alpha:
					verdict = "WORSE"
				case holmBetter[i] < alpha:
					verdict = "better"
				}
				line += fmt.Sprintf("%.5g\t%s\t%.3f\t%.3f\t%s\t", quantile(r.theirs, 0.5), iqr(r.theirs), r.pWorse, holmWorse[i], verdict)
			}
		}
		fmt.Fprintln(w, line)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if versus == "" {
		return nil
	}
	// Each searcher against another of ours, on the same seeds: a
	// one-sided Mann-Whitney U test that it finds lower values.
	base := map[string][]float64{}
	for _, r := range rows {
		if r.name == versus {
			base[r.obj.Name] = r.ours
		}
	}
	for _, r := range rows {
		if b := base[r.obj.Name]; r.name != versus && b != nil {
			p := mannWhitneyGreater(b, r.ours)
			verdict := "not better beyond noise"
			if p < alpha {
				verdict = "better"
			}
			fmt.Printf("%s vs %s on %s: median %.5g vs %.5g, p(better) %.4f: %s\n", r.name, versus, r.obj.Name, quantile(r.ours, 0.5), quantile(b, 0.5), p, verdict)
		}
	}
	return nil
}

// search runs one search and returns the best value found.
func search(s tune.Searcher, o objectives.Objective, trials int, seed int64) (float64, error) {
	params, _, err := o.Space().Params()
	if err != nil {
		return 0, err
	}
	if err := s.Setup(tune.SearchConfig{Metric: "loss", Mode: tune.Min, Params: params, NumSamples: trials, Seed: seed}); err != nil {
		return 0, err
	}
	best := math.Inf(1)
	for i := range trials {
		id := fmt.Sprintf("trial_%05d", i)
		values, err := s.Suggest(id)
		if errors.Is(err, tune.ErrSearchFinished) {
			break
		}
		if err != nil {
			return 0, err
		}
		if values == nil {
			return 0, fmt.Errorf("trial %d: the searcher waits, with no trial running", i)
		}
		v, err := o.Eval(values)
		if err != nil {
			return 0, err
		}
		best = math.Min(best, v)
		s.OnTrialComplete(id, &tune.Result{TrialID: id, Iteration: 1, Metrics: tune.Metrics{"loss": v}, Done: true}, false)
	}
	return best, nil
}

func iqr(xs []float64) string {
	return fmt.Sprintf("[%.4g, %.4g]", quantile(xs, 0.25), quantile(xs, 0.75))
}

// loadOptuna runs the script (or reads its saved output).
func loadOptuna(python, script, file string, objNames []string, trials, seeds int) (*optunaResults, error) {
	var out []byte
	var err error
	if file != "" {
		out, err = os.ReadFile(file)
	} else {
		fmt.Fprintf(os.Stderr, "running %s %s (Optuna takes minutes)...\n", python, script)
		cmd := exec.Command(python, script, "--objectives", strings.Join(objNames, ","),
			"--trials", fmt.Sprint(trials), "--seeds", fmt.Sprint(seeds))
		cmd.Stderr = os.Stderr
		out, err = cmd.Output()
	}
	if err != nil {
		return nil, fmt.Errorf("optuna: %w", err)
	}
	var r optunaResults
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, fmt.Errorf("optuna output: %w", err)
	}
	if r.Trials != trials {
		return nil, fmt.Errorf("optuna ran %d trials per search, this run %d", r.Trials, trials)
	}
	return &r, nil
}

// checkSameFunctions compares the two definitions of each objective at
// its box's centre.
func checkSameFunctions(objs []objectives.Objective, r *optunaResults) error {
	for _, o := range objs {
		x := make([]float64, len(o.Bounds))
		for d, b := range o.Bounds {
			x[d] = (b[0] + b[1]) / 2
		}
		want, ok := r.Check[o.Name]
		if got := o.F(x); !ok || math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
			return fmt.Errorf("%s differs between Go (%v) and Python (%v) at the centre", o.Name, got, want)
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

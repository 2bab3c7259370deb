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
// (worse) at p < -alpha (0.05); "better" when the reverse test does.
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
		seeds      = flag.Int("seeds", 20, "searches per objective and searcher (seeds 1..n)")
		withOptuna = flag.Bool("optuna", false, "also run Optuna's TPESampler (bench/tune/optuna_quality.py) and compare")
		python     = flag.String("python", "/usr/bin/python3", "Python with optuna 3.1")
		script     = flag.String("script", "bench/tune/optuna_quality.py", "the Optuna script")
		optunaJSON = flag.String("optuna-json", "", "read Optuna's results from this file (the script's output) instead of running it")
		alpha      = flag.Float64("alpha", 0.05, "significance level of the verdict")
	)
	flag.Parse()
	if err := run(strings.Split(*names, ","), strings.Split(*objNames, ","), *trials, *seeds,
		*withOptuna || *optunaJSON != "", *python, *script, *optunaJSON, *alpha); err != nil {
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

func run(names, objNames []string, trials, seeds int, withOptuna bool, python, script, optunaJSON string, alpha float64) error {
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

	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	header := "objective\tknown min\tsearcher\tmedian best\tIQR\t"
	if opt != nil {
		header += "optuna " + opt.Version + "\toptuna IQR\tp(worse)\tverdict\t"
	}
	fmt.Fprintln(w, header)
	for _, o := range objs {
		for _, n := range names {
			bests := make([]float64, seeds)
			for seed := 1; seed <= seeds; seed++ {
				b, err := search(searchers[n](int64(seed)), o, trials, int64(seed))
				if err != nil {
					return fmt.Errorf("%s on %s, seed %d: %w", n, o.Name, seed, err)
				}
				bests[seed-1] = b
			}
			line := fmt.Sprintf("%s\t%.5g\t%s\t%.5g\t%s\t", o.Name, o.Min, n, quantile(bests, 0.5), iqr(bests))
			if opt != nil {
				line += compare(bests, opt.Bests[o.Name][optunaNames[n]], alpha)
			}
			fmt.Fprintln(w, line)
		}
	}
	return w.Flush()
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

// compare is the Optuna columns: its median and IQR, the one-sided
// p-value that ours are worse, and the verdict.
func compare(ours, theirs []float64, alpha float64) string {
	if len(theirs) == 0 {
		return "-\t-\t-\tno Optuna counterpart\t"
	}
	pWorse := mannWhitneyGreater(ours, theirs)
	verdict := "no worse beyond noise"
	switch {
	case pWorse < alpha:
		verdict = "WORSE"
	case mannWhitneyGreater(theirs, ours) < alpha:
		verdict = "better"
	}
	return fmt.Sprintf("%.5g\t%s\t%.3f\t%s\t", quantile(theirs, 0.5), iqr(theirs), pWorse, verdict)
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

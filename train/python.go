package train

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/rayo-dev/rayo"
)

// Python's TorchTrainer (rayo.train.torch.TorchTrainer) runs its Go
// side here: the driver calls the task rayo.train.fit across languages,
// pinned to its own node so that StoragePath is on the driver's machine,
// with the cloudpickled training function and the configs as plain
// values; the task runs a TorchTrainer with Func and returns the Result
// as plain values. The rayo binary links this package, so the task and
// the worker actors are there for every Python job.

// pyFitSpec is what Python's TorchTrainer.fit sends.
type pyFitSpec struct {
	Func               []byte             `msgpack:"func"`
	Python             string             `msgpack:"python"`
	Dir                string             `msgpack:"dir"`
	Env                map[string]string  `msgpack:"env"`
	NumWorkers         int                `msgpack:"num_workers"`
	UseGPU             bool               `msgpack:"use_gpu"`
	ResourcesPerWorker map[string]float64 `msgpack:"resources_per_worker"`
	PlacementStrategy  string             `msgpack:"placement_strategy"`
	MinWorkers         int                `msgpack:"min_workers"`
	PlacementTimeoutS  float64            `msgpack:"placement_timeout_s"`
	Name               string             `msgpack:"name"`
	StoragePath        string             `msgpack:"storage_path"`
	MaxFailures        int                `msgpack:"max_failures"`
	CollectiveTimeoutS float64            `msgpack:"collective_timeout_s"`
	NumToKeep          int                `msgpack:"num_to_keep"`
	ScoreAttribute     string             `msgpack:"score_attribute"`
	Order              string             `msgpack:"order"`
	ResumeFrom         string             `msgpack:"resume_from"`
}

// pyRound and pyFitResult are a Result as Python reads it.
type pyRound struct {
	Round      int            `msgpack:"round"`
	Attempt    int            `msgpack:"attempt"`
	WorldSize  int            `msgpack:"world_size"`
	Metrics    map[string]any `msgpack:"metrics"`
	Checkpoint string         `msgpack:"checkpoint"`
}

type pyCheckpoint struct {
	Path    string         `msgpack:"path"`
	Metrics map[string]any `msgpack:"metrics"`
}

type pyFitResult struct {
	Metrics    map[string]any `msgpack:"metrics"`
	History    []pyRound      `msgpack:"history"`
	Checkpoint string         `msgpack:"checkpoint"`
	Best       []pyCheckpoint `msgpack:"best"`
	Path       string         `msgpack:"path"`
	Error      string         `msgpack:"error"`
	ErrorKind  string         `msgpack:"error_kind"`
	Rank       int            `msgpack:"rank"`
	Stack      string         `msgpack:"stack"`
	Failures   int            `msgpack:"failures"`
	WorldSize  int            `msgpack:"world_size"`
}

var strategies = map[string]rayo.PlacementStrategy{"": rayo.PACK, "PACK": rayo.PACK, "SPREAD": rayo.SPREAD,
	"STRICT_PACK": rayo.STRICT_PACK, "STRICT_SPREAD": rayo.STRICT_SPREAD}

var _ = rayo.Register[pyFitResult]("rayo.train.fit", func(ctx context.Context, s pyFitSpec) (pyFitResult, error) {
	strategy, ok := strategies[strings.ToUpper(s.PlacementStrategy)]
	if !ok {
		return pyResult(&Result{Error: errorf(ErrInvalidConfig, "placement_strategy %q is not one of PACK, SPREAD, STRICT_PACK, STRICT_SPREAD", s.PlacementStrategy)}), nil
	}
	t := &TorchTrainer{Func: s.Func, Python: s.Python, Dir: s.Dir, Env: s.Env,
		Scaling: ScalingConfig{NumWorkers: s.NumWorkers, UseGPU: s.UseGPU, ResourcesPerWorker: s.ResourcesPerWorker,
			PlacementStrategy: strategy, MinWorkers: s.MinWorkers, PlacementTimeout: seconds(s.PlacementTimeoutS)},
		Run: RunConfig{Name: s.Name, StoragePath: s.StoragePath,
			Failure:    FailureConfig{MaxFailures: s.MaxFailures, CollectiveTimeout: seconds(s.CollectiveTimeoutS)},
			Checkpoint: CheckpointConfig{NumToKeep: s.NumToKeep, ScoreAttribute: s.ScoreAttribute, Order: Order(strings.ToLower(s.Order))}}}
	if s.ResumeFrom != "" {
		t.ResumeFromCheckpoint = CheckpointFromDir(s.ResumeFrom)
	}
	res, _ := t.Fit(ctx)
	return pyResult(res), nil
})

// errorKinds name the errors for Python, most specific first.
var errorKinds = []struct {
	name string
	err  error
}{
	{"invalid_config", ErrInvalidConfig}, {"not_registered", ErrNotRegistered}, {"infeasible", ErrInfeasible},
	{"placement_timeout", ErrPlacementTimeout}, {"storage", ErrStorage}, {"too_many_failures", ErrTooManyFailures},
	{"worker_hung", ErrWorkerHung}, {"worker_lost", ErrWorkerLost}, {"worker_failed", ErrWorkerFailed},
	{"script_not_found", ErrScriptNotFound},
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// pyResult flattens a Result; its error becomes text and a kind Python
// maps onto its exceptions.
func pyResult(r *Result) pyFitResult {
	out := pyFitResult{Metrics: r.Metrics, Path: r.Path, Failures: r.Failures, WorldSize: r.WorldSize, Rank: -1}
	for _, h := range r.MetricsHistory {
		out.History = append(out.History, pyRound{Round: h.Round, Attempt: h.Attempt, WorldSize: h.WorldSize, Metrics: h.Metrics, Checkpoint: h.Checkpoint})
	}
	if r.Checkpoint != nil {
		out.Checkpoint = r.Checkpoint.Path()
	}
	for _, b := range r.BestCheckpoints {
		out.Best = append(out.Best, pyCheckpoint{Path: b.Checkpoint.Path(), Metrics: b.Metrics})
	}
	if r.Error != nil {
		out.Error = r.Error.Error()
		for _, k := range errorKinds {
			if errors.Is(r.Error, k.err) {
				out.ErrorKind = k.name
				break
			}
		}
		var we *WorkerError
		if errors.As(r.Error, &we) {
			out.Rank, out.Stack = we.Rank, we.Stack
		}
	}
	return out
}

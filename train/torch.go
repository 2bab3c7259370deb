package train

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/rayo-dev/rayo/data"
	"github.com/rayo-dev/rayo/train/internal/proc"
)

// ErrScriptNotFound: TorchTrainer.Script is not a file.
var ErrScriptNotFound = proc.ErrScriptNotFound

// maxShippedScript bounds the script a TorchTrainer sends to the workers
// for nodes that do not have it at the same path.
const maxShippedScript = 4 << 20

// TorchTrainer runs a PyTorch training script on every worker of the
// group (Ray's TorchTrainer), each as the worker's child process with the
// environment torchrun gives (MASTER_ADDR, MASTER_PORT, RANK, LOCAL_RANK,
// WORLD_SIZE, LOCAL_WORLD_SIZE, GROUP_RANK, TORCHELASTIC_RESTART_COUNT...)
// and exactly the worker's GPUs in CUDA_VISIBLE_DEVICES, so an unmodified
// DDP script runs (gloo on CPU, NCCL on GPU). The script's output reaches
// the driver prefixed with its rank. With the rayo.train Python module the
// script reports metrics and checkpoints (rayo.train.report), resumes
// (rayo.train.get_checkpoint) and reads its dataset shard
// (rayo.train.get_dataset_shard).
type TorchTrainer struct {
	// Script is the training script's path; Module a module to run
	// instead (python -m). A node without the script at that path gets
	// its content (the one file) in a private directory.
	Script string
	Module string
	// Args are the script's arguments.
	Args []string
	// Dir is the script's working directory (default: the script's
	// directory).
	Dir string
	// Python is the interpreter (default $RAYO_PYTHON, else python3).
	Python string
	// Env is added to the script's environment.
	Env map[string]string
	// Func is a cloudpickled Python callable run instead of a script:
	// what the Python TorchTrainer sends.
	Func []byte

	Scaling              ScalingConfig
	Run                  RunConfig
	Datasets             map[string]*data.Dataset
	ResumeFromCheckpoint *Checkpoint
}

// torchSpec is what the workers need of a TorchTrainer.
type torchSpec struct {
	Script      string            `msgpack:"script"`
	ScriptBytes []byte            `msgpack:"bytes"`
	Module      string            `msgpack:"module"`
	Args        []string          `msgpack:"args"`
	Dir         string            `msgpack:"dir"`
	Python      string            `msgpack:"python"`
	Env         map[string]string `msgpack:"env"`
	Func        []byte            `msgpack:"func"`
	MaxRestarts int               `msgpack:"restarts"`
}

// Fit runs the script on every worker until each exits, restarting the
// group from the latest checkpoint when a worker (or its script's
// process) is killed, as DataParallelTrainer.Fit does.
func (t *TorchTrainer) Fit(ctx context.Context) (*Result, error) {
	ts := &torchSpec{Module: t.Module, Args: t.Args, Dir: t.Dir, Python: t.Python, Env: t.Env, Func: t.Func,
		MaxRestarts: t.Run.Failure.MaxFailures}
	switch n := boolCount(t.Script != "", t.Module != "", len(t.Func) > 0); {
	case n == 0:
		return failed(errorf(ErrInvalidConfig, "TorchTrainer needs a Script, a Module or a Func"))
	case n > 1:
		return failed(errorf(ErrInvalidConfig, "TorchTrainer takes one of Script, Module and Func"))
	}
	if t.Script != "" {
		abs, err := filepath.Abs(t.Script)
		if err != nil {
			return failed(fmt.Errorf("%w: %s: %v", ErrScriptNotFound, t.Script, err))
		}
		st, err := os.Stat(abs)
		if err != nil || !st.Mode().IsRegular() {
			return failed(fmt.Errorf("%w: %s is not a file", ErrScriptNotFound, t.Script))
		}
		if st.Size() <= maxShippedScript {
			if ts.ScriptBytes, err = os.ReadFile(abs); err != nil {
				return failed(fmt.Errorf("%w: %s: %v", ErrScriptNotFound, t.Script, err))
			}
		}
		ts.Script = abs
	}
	if ts.Dir != "" {
		abs, err := filepath.Abs(ts.Dir)
		if err != nil {
			return failed(errorf(ErrInvalidConfig, "TorchTrainer.Dir %q: %v", ts.Dir, err))
		}
		ts.Dir = abs
	}
	return fit(ctx, plan{spec: workerSpec{Torch: ts}, scaling: t.Scaling, run: t.Run, datasets: t.Datasets, resume: t.ResumeFromCheckpoint})
}

func boolCount(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// runTorch runs the worker's script and serves its rayo.train calls.
func runTorch(ctx context.Context, spec workerSpec, s *session, master string) error {
	ts := spec.Torch
	ps := proc.Spec{Python: ts.Python, Script: ts.Script, Module: ts.Module, Args: ts.Args, Dir: ts.Dir,
		Prefix: fmt.Sprintf("[rank %d] ", s.info.WorldRank), CollectiveTimeout: spec.CollectiveTimeout}
	// The driver's directory and interpreter are hints: another node may
	// have neither (then the worker's directory, and RAYO_PYTHON or
	// python3).
	if ps.Dir != "" {
		if st, err := os.Stat(ps.Dir); err != nil || !st.IsDir() {
			ps.Dir = s.w.scratch
		}
	}
	if filepath.IsAbs(ps.Python) {
		if _, err := os.Stat(ps.Python); err != nil {
			ps.Python = ""
		}
	}
	if ts.Script != "" {
		if st, err := os.Stat(ts.Script); (err != nil || !st.Mode().IsRegular()) && ts.ScriptBytes != nil {
			// Not on this node: its content, in the worker's directory.
			ps.Script = filepath.Join(s.w.scratch, filepath.Base(ts.Script))
			if err := os.WriteFile(ps.Script, ts.ScriptBytes, 0o600); err != nil {
				return err
			}
			if ts.Dir == "" {
				ps.Dir = s.w.scratch
			}
		}
	}
	if len(ts.Func) > 0 {
		path := filepath.Join(s.w.scratch, "func.pkl")
		if err := os.WriteFile(path, ts.Func, 0o600); err != nil {
			return err
		}
		ps.Module, ps.Args = "rayo.train._func", []string{path}
		if ps.Dir == "" {
			ps.Dir = s.w.scratch
		}
	}
	ps.Env = torchEnv(s.info, master, ts)
	return proc.Run(ctx, ps, &torchHandler{ctx: ctx, s: s})
}

// torchEnv is the environment torchrun gives a process, from the
// worker's place in the group.
func torchEnv(c Context, master string, ts *torchSpec) map[string]string {
	env := map[string]string{}
	for k, v := range ts.Env {
		env[k] = v
	}
	host, port, _ := net.SplitHostPort(master)
	itoa := strconv.Itoa
	for k, v := range map[string]string{
		"MASTER_ADDR": host, "MASTER_PORT": port,
		"RANK": itoa(c.WorldRank), "WORLD_SIZE": itoa(c.WorldSize),
		"LOCAL_RANK": itoa(c.LocalRank), "LOCAL_WORLD_SIZE": itoa(c.LocalWorldSize),
		"GROUP_RANK": itoa(c.NodeRank), "GROUP_WORLD_SIZE": itoa(c.NumNodes),
		"ROLE_NAME": "default", "ROLE_RANK": itoa(c.WorldRank), "ROLE_WORLD_SIZE": itoa(c.WorldSize),
		"TORCHELASTIC_RESTART_COUNT": itoa(c.Attempt), "TORCHELASTIC_MAX_RESTARTS": itoa(ts.MaxRestarts),
		"TORCHELASTIC_RUN_ID": c.Group,
	} {
		env[k] = v
	}
	// torchrun's default for more than one process per node: one thread
	// each, not one per core each.
	if _, set := env["OMP_NUM_THREADS"]; !set && os.Getenv("OMP_NUM_THREADS") == "" && c.LocalWorldSize > 1 {
		env["OMP_NUM_THREADS"] = "1"
	}
	if len(c.GPUIDs) > 0 {
		ids := make([]string, len(c.GPUIDs))
		for i, g := range c.GPUIDs {
			ids[i] = itoa(g)
		}
		env["CUDA_VISIBLE_DEVICES"] = strings.Join(ids, ",")
	}
	return env
}

// torchHandler answers the script's rayo.train calls from its session.
type torchHandler struct {
	ctx context.Context // the loop's: it carries the session
	s   *session
}

func (h *torchHandler) Context() map[string]any {
	c := h.s.info
	gpus := make([]any, len(c.GPUIDs))
	for i, g := range c.GPUIDs {
		gpus[i] = g
	}
	return map[string]any{"world_size": c.WorldSize, "world_rank": c.WorldRank, "local_rank": c.LocalRank,
		"local_world_size": c.LocalWorldSize, "node_rank": c.NodeRank, "num_nodes": c.NumNodes,
		"experiment_name": c.ExperimentName, "storage_path": c.StoragePath, "attempt": c.Attempt,
		"node_id": c.NodeID, "gpu_ids": gpus}
}

func (h *torchHandler) Report(_ context.Context, metrics map[string]any, dir string) error {
	var ck *Checkpoint
	if dir != "" {
		ck = CheckpointFromDir(dir)
	}
	return Report(h.ctx, metrics, ck)
}

func (h *torchHandler) Checkpoint(context.Context) (string, error) {
	ck, err := GetCheckpoint(h.ctx)
	if err != nil || ck == nil {
		return "", err
	}
	return ck.Path(), nil
}

func (h *torchHandler) Shard(_ context.Context, name string) (proc.Shard, error) {
	it, err := DatasetShard(h.ctx, name)
	if err != nil {
		return nil, err
	}
	return iterShard{it}, nil
}

type iterShard struct{ it *data.DataIterator }

func (s iterShard) Batches(ctx context.Context, batchSize int) iter.Seq2[arrow.RecordBatch, error] {
	return s.it.IterBatches(ctx, data.IterBatchSize(batchSize))
}

// peerGone matches gloo's and NCCL's errors for a peer whose process
// ended or whose connection broke.
var peerGone = regexp.MustCompile(`(?i)connection (closed|reset) by peer|broken pipe|remote process exited|socket closed|NCCL communicator was aborted`)

// describeScript adds what a script's failure says to f: its traceback,
// a timed-out collective, a process killed by SIGKILL (lost, as a dead
// worker is: the OOM killer, kill -9).
func describeScript(err error, f *failure) {
	var se *proc.ScriptError
	if errors.As(err, &se) {
		f.Stack = se.Traceback
		// torch.distributed's report of a peer that went away: an echo of
		// another rank's failure, as collective.ErrPeerLost is in Go.
		f.PeerLost = peerGone.MatchString(se.Message)
	}
	if errors.Is(err, proc.ErrCollectiveTimeout) {
		f.Timeout = true
	}
	var ee *proc.ExitError
	if errors.As(err, &ee) && ee.Signal == "SIGKILL" {
		f.Lost = true
	}
}

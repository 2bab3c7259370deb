package proc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/rayo-dev/rayo/python"
)

// Spec says what to run and how.
type Spec struct {
	// Python is the interpreter. "" means $RAYO_PYTHON, else "python3"
	// on PATH (as rayo's Python workers do). Debian's /usr/bin/python3
	// is the one that sees Debian's python3-torch.
	Python string
	// Script is the training script's path (relative to this process's
	// working directory); it must be a regular file (ErrScriptNotFound).
	Script string
	// Module is a module to run as `python -m Module` instead; exactly
	// one of Script and Module is set.
	Module string
	// Args are the script's arguments (its sys.argv[1:]).
	Args []string
	// Dir is the working directory; "" means the script's directory, or
	// this process's for a Module.
	Dir string
	// Env is added to the child's environment (torchrun's RANK,
	// WORLD_SIZE, MASTER_ADDR..., CUDA_VISIBLE_DEVICES), over what this
	// process has.
	Env map[string]string
	// Prefix goes before every line of the child's stdout and stderr,
	// e.g. "[rank 1] ".
	Prefix string
	// Stdout and Stderr receive the prefixed lines (default os.Stdout
	// and os.Stderr). They may be one writer: lines are written whole,
	// one write at a time. A write that blocks holds up the script's
	// output and Run's return.
	Stdout, Stderr io.Writer
	// CollectiveTimeout is the timeout torch.distributed's
	// init_process_group gets when the script passes none (0: torch's
	// own default).
	CollectiveTimeout time.Duration
	// StopGrace is how long a stop waits after SIGTERM before SIGKILL
	// (default 5s).
	StopGrace time.Duration
}

// DefaultStopGrace is StopGrace's default.
const DefaultStopGrace = 5 * time.Second

// Handler answers the script's requests. Run calls it from one goroutine,
// one request at a time; the ctx it passes ends with the script.
type Handler interface {
	// Context is what rayo.train.get_context() returns: world_size,
	// world_rank, local_rank, local_world_size, node_rank,
	// experiment_name, storage_path, attempt... (JSON-encodable;
	// passed through as it is).
	Context() map[string]any
	// Report takes rayo.train.report's metrics (JSON's values: nil,
	// bool, int64, float64 with NaN and infinities, string, []any,
	// map[string]any) and checkpoint directory ("" when none). When it
	// returns, the checkpoint's files must have been taken: the script
	// may delete the directory. An error is raised in the script.
	Report(ctx context.Context, metrics map[string]any, checkpointDir string) error
	// Checkpoint is the directory get_checkpoint() returns ("" for None).
	Checkpoint(ctx context.Context) (dir string, err error)
	// Shard returns the named dataset shard; an error (for an unknown
	// name) is raised in the script by get_dataset_shard. It is asked
	// once per name.
	Shard(ctx context.Context, name string) (Shard, error)
}

// Shard is one worker's part of a dataset.
type Shard interface {
	// Batches streams one epoch; each call is a new epoch. Each batch
	// should have batchSize rows (the last may have fewer); batchSize 0
	// means the shard's own batches. A batch is read before the next
	// step of the iteration and never retained or released by Run: the
	// producer keeps its ownership. Empty batches are skipped.
	Batches(ctx context.Context, batchSize int) iter.Seq2[arrow.RecordBatch, error]
}

// outputDrain bounds the wait for the child's output once its process
// group is gone: only a process that left the group (setsid) can still
// hold the pipes open.
const outputDrain = 2 * time.Second

// Run runs the script as a child process and serves its rayo.train
// requests until it exits. It returns nil on exit status 0, a
// *ScriptError for an uncaught exception, an *ExitError for any other
// failure, and, when ctx ends first, an error wrapping context.Cause(ctx)
// once the script is stopped: SIGTERM to its process group, SIGKILL after
// Spec.StopGrace. Whatever the script started in its process group is
// killed when it exits. Run returns only when the child is reaped and its
// output written out.
func Run(ctx context.Context, spec Spec, h Handler) error {
	cmd, err := command(spec)
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return fmt.Errorf("proc: training script not started: %w", context.Cause(ctx))
	}
	mine, theirs, err := socketPair()
	if err != nil {
		return err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		_, _ = mine.Close(), theirs.Close()
		return fmt.Errorf("proc: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		_, _, _, _ = mine.Close(), theirs.Close(), outR.Close(), outW.Close()
		return fmt.Errorf("proc: %w", err)
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	cmd.ExtraFiles = []*os.File{theirs} // fd 3
	err = cmd.Start()
	_, _, _ = theirs.Close(), outW.Close(), errW.Close()
	if err != nil {
		_, _, _ = mine.Close(), outR.Close(), errR.Close()
		return fmt.Errorf("proc: starting %s: %w", cmd.Path, err)
	}
	pid := cmd.Process.Pid

	stdout, stderr := spec.Stdout, spec.Stderr
	if stdout == nil {
		stdout = os.Stdout
	}
	if stderr == nil {
		stderr = os.Stderr
	}
	out := &output{prefix: []byte(spec.Prefix)}
	errTail := &tail{}
	var copying sync.WaitGroup
	copying.Go(func() { newLines(out, stdout, nil).copyFrom(outR) })
	copying.Go(func() { newLines(out, stderr, errTail).copyFrom(errR) })

	srvCtx, stopSrv := context.WithCancel(ctx)
	defer stopSrv()
	srv := newServer(h, mine)
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.serve(srvCtx)
	}()

	exited := make(chan struct{})
	go func() {
		defer close(exited)
		waitExited(pid)
	}()

	stopped := false
	select {
	case <-exited:
	default:
		select {
		case <-exited:
		case <-ctx.Done():
			stopped = true
			_ = syscall.Kill(-pid, syscall.SIGTERM)
			grace := spec.StopGrace
			if grace <= 0 {
				grace = DefaultStopGrace
			}
			t := time.NewTimer(grace)
			select {
			case <-exited:
			case <-t.C:
				_ = syscall.Kill(-pid, syscall.SIGKILL)
				<-exited
			}
			t.Stop()
		}
	}
	// The child is a zombie, not yet reaped: its pid, and so its group's
	// id, cannot have been reused. What it left running in the group goes.
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	waitErr := cmd.Wait()

	stopSrv()
	_ = mine.Close()
	<-served

	drained := make(chan struct{})
	go func() {
		defer close(drained)
		copying.Wait()
	}()
	t := time.NewTimer(outputDrain)
	select {
	case <-drained:
	case <-t.C:
		now := time.Now()
		_, _ = outR.SetReadDeadline(now), errR.SetReadDeadline(now)
		<-drained
	}
	t.Stop()
	_, _ = outR.Close(), errR.Close()

	if stopped {
		return fmt.Errorf("proc: training script stopped: %w", context.Cause(ctx))
	}
	return exitResult(waitErr, errTail.get(), srv.failed)
}

// exitResult is Run's error for how the child ended.
func exitResult(waitErr error, tail []string, f *failure) error {
	if waitErr == nil {
		return nil
	}
	var ee *exec.ExitError
	if !errors.As(waitErr, &ee) {
		return fmt.Errorf("proc: waiting for the training script: %w", waitErr)
	}
	x := &ExitError{Code: ee.ExitCode(), Tail: tail}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		x.Code, x.Signal = -1, signalName(ws.Signal())
	}
	x.CollectiveTimeout = showsCollectiveTimeout(tail)
	if f == nil {
		return x
	}
	return &ScriptError{Type: f.typ, Message: f.message, Traceback: f.traceback,
		CollectiveTimeout: f.collectiveTimeout || x.CollectiveTimeout, Exit: x}
}

// waitExited blocks until process pid has exited, without reaping it
// (waitid with WNOWAIT), so that its process group can still be signalled
// safely.
func waitExited(pid int) {
	const pPID = 1     // P_PID
	var info [128]byte // siginfo_t
	for {
		_, _, e := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid), uintptr(unsafe.Pointer(&info[0])),
			syscall.WEXITED|syscall.WNOWAIT, 0, 0)
		if e != syscall.EINTR {
			return
		}
	}
}

// command builds the child's command from spec, checking it.
func command(spec Spec) (*exec.Cmd, error) {
	if (spec.Script == "") == (spec.Module == "") {
		return nil, fmt.Errorf("%w: set one of Script and Module", ErrSpec)
	}
	launch := []string{"-m", "rayo.train._launch"}
	dir := spec.Dir
	if spec.Script != "" {
		script, err := filepath.Abs(spec.Script)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrScriptNotFound, spec.Script, err)
		}
		fi, err := os.Stat(script)
		if err != nil || !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("%w: %s", ErrScriptNotFound, spec.Script)
		}
		launch = append(launch, script)
		if dir == "" {
			dir = filepath.Dir(script)
		}
	} else {
		if strings.HasPrefix(spec.Module, "-") || strings.ContainsAny(spec.Module, " /\x00") {
			return nil, fmt.Errorf("%w: module %q", ErrSpec, spec.Module)
		}
		launch = append(launch, "-m", spec.Module)
	}
	for k := range spec.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return nil, fmt.Errorf("%w: environment variable %q", ErrSpec, k)
		}
	}
	env, err := childEnv(os.Environ(), spec)
	if err != nil {
		return nil, err
	}
	py := spec.Python
	if py == "" {
		py = os.Getenv("RAYO_PYTHON")
	}
	if py == "" {
		py = "python3"
	}
	cmd := exec.Command(py, append(launch, spec.Args...)...)
	cmd.Dir = dir
	cmd.Env = env
	// Its own process group, so that a stop reaches what it starts; and
	// it dies with this process however that ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	return cmd, nil
}

// dropped reports whether an inherited variable must not reach the
// script: the cluster's token and TLS material, a Python bridge's
// descriptor and token, and stale RAYO_TRAIN_ variables.
func dropped(k string) bool {
	return k == "RAYO_TOKEN" || strings.HasPrefix(k, "RAYO_TLS_") || strings.HasPrefix(k, "RAYO_BRIDGE_") ||
		strings.HasPrefix(k, "RAYO_TRAIN_")
}

// childEnv is the child's environment: inherited (less secrets), then
// spec.Env, then what the launcher needs.
func childEnv(inherited []string, spec Spec) ([]string, error) {
	env := make([]string, 0, len(inherited)+len(spec.Env)+6)
	vars := map[string]string{}
	for _, kv := range inherited {
		k, v, _ := strings.Cut(kv, "=")
		if dropped(k) {
			continue
		}
		env = append(env, kv)
		vars[k] = v
	}
	for _, k := range slices.Sorted(maps.Keys(spec.Env)) {
		env = append(env, k+"="+spec.Env[k])
		vars[k] = spec.Env[k]
	}
	pp, err := pythonPath(vars["PYTHONPATH"])
	if err != nil {
		return nil, err
	}
	// exec.Cmd keeps the last value of a repeated name.
	env = append(env, "PYTHONPATH="+pp, "PYTHONUNBUFFERED=1", "RAYO_TRAIN_FD=3")
	if _, ok := vars["PYTHONSAFEPATH"]; !ok {
		// Nothing in the working directory shadows rayo; the launcher
		// puts the script's directory on sys.path itself, and takes
		// both variables out of the script's environment.
		env = append(env, "PYTHONSAFEPATH=1", "RAYO_TRAIN_SAFEPATH=1")
	}
	if spec.CollectiveTimeout > 0 {
		env = append(env, "RAYO_TRAIN_COLLECTIVE_TIMEOUT="+strconv.FormatFloat(spec.CollectiveTimeout.Seconds(), 'f', -1, 64))
	}
	return env, nil
}

// launcher is what a PYTHONPATH entry holds when it has rayo.train.
var launcher = filepath.Join("rayo", "train", "_launch.py")

// pythonPath is the child's PYTHONPATH: $RAYO_PYTHONPATH first when set
// (a checkout's python/ directory, for development); else cur as it is
// when one of its entries has rayo.train; else the package embedded in
// this binary (extracted once per process) first.
func pythonPath(cur string) (string, error) {
	join := func(first string) string {
		if cur == "" {
			return first
		}
		return first + string(os.PathListSeparator) + cur
	}
	if dev := os.Getenv("RAYO_PYTHONPATH"); dev != "" {
		if !isFile(filepath.Join(dev, launcher)) {
			return "", fmt.Errorf("%w: RAYO_PYTHONPATH=%s has no %s", ErrNoPackage, dev, launcher)
		}
		return join(dev), nil
	}
	for _, e := range filepath.SplitList(cur) {
		if e != "" && isFile(filepath.Join(e, launcher)) {
			return cur, nil
		}
	}
	dir, err := python.Dir()
	if err != nil {
		return "", fmt.Errorf("proc: the rayo Python package for the script: %w", err)
	}
	return join(dir), nil
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// socketPair returns this side of a Unix socket pair as a net.Conn and
// the child's side as a file to pass it.
func socketPair() (net.Conn, *os.File, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("proc: a socket pair for the script: %w", err)
	}
	mine := os.NewFile(uintptr(fds[0]), "rayo-train")
	theirs := os.NewFile(uintptr(fds[1]), "rayo-train-script")
	nc, err := net.FileConn(mine)
	_ = mine.Close() // FileConn holds its own descriptor
	if err != nil {
		_ = theirs.Close()
		return nil, nil, fmt.Errorf("proc: a socket pair for the script: %w", err)
	}
	return nc, theirs, nil
}

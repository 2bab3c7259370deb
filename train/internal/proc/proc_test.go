package proc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// interpreter is Debian's Python, which sees Debian's numpy and torch.
const interpreter = "/usr/bin/python3"

var (
	pythonOK = sync.OnceValue(func() error { return probe("import numpy, msgpack, cloudpickle") })
	torchOK  = sync.OnceValue(func() error { return probe("import torch, torch.distributed as d; assert d.is_gloo_available()") })
)

func probe(code string) error {
	out, err := exec.Command(interpreter, "-c", code).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s -c %q: %v: %s", interpreter, code, err, out)
	}
	return nil
}

// need skips the test when err says the interpreter lacks something,
// except under CI, where that fails it.
func need(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatal(err)
	}
	t.Skip(err)
}

// syncBuffer is a bytes.Buffer safe to read while Run writes it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// result is what a run of a script gave.
type result struct {
	stdout, stderr string
	err            error
}

// runScript writes body as train_script.py in a new directory and runs
// it with spec (Script, Python and outputs filled in).
func runScript(t *testing.T, ctx context.Context, body string, spec Spec, h Handler) result {
	t.Helper()
	need(t, pythonOK())
	dir := t.TempDir()
	path := filepath.Join(dir, "train_script.py")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut syncBuffer
	spec.Script, spec.Python = path, interpreter
	if spec.Stdout == nil {
		spec.Stdout = &out
	}
	if spec.Stderr == nil {
		spec.Stderr = &errOut
	}
	err := Run(ctx, spec, h)
	return result{out.String(), errOut.String(), err}
}

// ok fails the test when the run failed.
func (r result) ok(t *testing.T) {
	t.Helper()
	if r.err != nil {
		t.Fatalf("Run: %v\nstdout:\n%s\nstderr:\n%s", r.err, r.stdout, r.stderr)
	}
}

type reportCall struct {
	metrics map[string]any
	dir     string
	files   map[string]string // the checkpoint's files, read during Report
}

// fakeHandler records reports and answers from its fields.
type fakeHandler struct {
	mu          sync.Mutex
	context     map[string]any
	reports     []reportCall
	reportErr   error
	checkpoints []string // answered in turn, the last repeated ("" is None)
	shards      map[string]Shard
	// onCheckpoint, when set, answers Checkpoint instead.
	onCheckpoint func(ctx context.Context) (string, error)
	// onReport, when set, runs first in Report.
	onReport func(ctx context.Context) error
}

func (h *fakeHandler) Context() map[string]any { return h.context }

func (h *fakeHandler) Report(ctx context.Context, metrics map[string]any, dir string) error {
	if h.onReport != nil {
		if err := h.onReport(ctx); err != nil {
			return err
		}
	}
	call := reportCall{metrics: metrics, dir: dir}
	if dir != "" {
		call.files = map[string]string{}
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			rel, _ := filepath.Rel(dir, p)
			call.files[rel] = string(b)
			return err
		})
		if err != nil {
			return err
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reports = append(h.reports, call)
	return h.reportErr
}

func (h *fakeHandler) Checkpoint(ctx context.Context) (string, error) {
	if h.onCheckpoint != nil {
		return h.onCheckpoint(ctx)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.checkpoints) == 0 {
		return "", nil
	}
	dir := h.checkpoints[0]
	if len(h.checkpoints) > 1 {
		h.checkpoints = h.checkpoints[1:]
	}
	return dir, nil
}

func (h *fakeHandler) Shard(_ context.Context, name string) (Shard, error) {
	if sh, ok := h.shards[name]; ok {
		return sh, nil
	}
	return nil, fmt.Errorf("no dataset named %q", name)
}

func TestReportContextCheckpoint(t *testing.T) {
	// Not parallel: the secret below is set in this process's environment.
	t.Setenv("RAYO_TOKEN", "cluster-secret")
	t.Setenv("RAYO_TLS_KEY", "/key.pem")
	resume := t.TempDir()
	if err := os.WriteFile(filepath.Join(resume, "resume.txt"), []byte("from go"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := &fakeHandler{
		context: map[string]any{"world_size": 4, "world_rank": 2, "local_rank": 0, "local_world_size": 2,
			"node_rank": 1, "experiment_name": "exp", "storage_path": "/runs/exp", "attempt": 1,
			"custom": map[string]any{"a": []int{1, 2}}},
		checkpoints: []string{"", resume},
	}
	body := `
import os, shutil, sys, tempfile
import numpy as np
import rayo.train as train
from helper import VALUE  # a module beside the script, as python script.py finds it

assert VALUE == 42
assert sys.argv[1:] == ["--lr", "0.1", "-m", "x"], sys.argv
assert os.getcwd() == os.path.dirname(os.path.abspath(__file__)), (os.getcwd(), __file__)
assert __name__ == "__main__"
for k in ("RAYO_TOKEN", "RAYO_TLS_KEY", "RAYO_TRAIN_FD", "PYTHONSAFEPATH", "RAYO_TRAIN_SAFEPATH"):
    assert k not in os.environ, k
assert os.environ["MY_VAR"] == "from spec"

ctx = train.get_context()
assert (ctx.get_world_size(), ctx.get_world_rank(), ctx.get_local_rank(), ctx.get_local_world_size(),
        ctx.get_node_rank(), ctx.get_attempt()) == (4, 2, 0, 2, 1, 1), ctx
assert ctx.get_experiment_name() == "exp" and ctx.get_storage_path() == "/runs/exp"
assert ctx.get("custom") == {"a": [1, 2]}

assert train.get_checkpoint() is None

d = tempfile.mkdtemp()
os.mkdir(os.path.join(d, "sub"))
with open(os.path.join(d, "model.pt"), "w") as f:
    f.write("weights")
with open(os.path.join(d, "sub", "opt.pt"), "w") as f:
    f.write("state")
train.report({"loss": 0.5, "epoch": 3, "nan": float("nan"), "np": np.float32(1.5), "arr": np.arange(3),
              "nested": {"a": [1, 2.5, None, True, "s"]}}, checkpoint=train.Checkpoint.from_directory(d))
shutil.rmtree(d)  # the worker has the files once report returns
train.report({"loss": 0.25})

c = train.get_checkpoint()
with c.as_directory() as p, open(os.path.join(p, "resume.txt")) as f:
    assert f.read() == "from go"
print("done")
`
	need(t, pythonOK())
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "helper.py"), []byte("VALUE = 42\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "train_script.py")
	if err := os.WriteFile(script, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut syncBuffer
	err := Run(t.Context(), Spec{Python: interpreter, Script: script, Args: []string{"--lr", "0.1", "-m", "x"},
		Env: map[string]string{"MY_VAR": "from spec"}, Stdout: &out, Stderr: &errOut}, h)
	result{out.String(), errOut.String(), err}.ok(t)
	if !strings.Contains(out.String(), "done") {
		t.Fatalf("stdout %q", out.String())
	}
	if len(h.reports) != 2 {
		t.Fatalf("%d reports, want 2", len(h.reports))
	}
	first := h.reports[0]
	m := first.metrics
	if m["loss"] != 0.5 || m["epoch"] != int64(3) || m["np"] != 1.5 || fmt.Sprint(m["arr"]) != "[0 1 2]" {
		t.Errorf("metrics %#v", m)
	}
	if f, ok := m["nan"].(float64); !ok || f == f {
		t.Errorf("nan reported as %#v", m["nan"])
	}
	if got := fmt.Sprint(m["nested"]); got != "map[a:[1 2.5 <nil> true s]]" {
		t.Errorf("nested = %s", got)
	}
	if first.dir == "" || first.files["model.pt"] != "weights" || first.files[filepath.Join("sub", "opt.pt")] != "state" {
		t.Errorf("checkpoint %q with files %v", first.dir, first.files)
	}
	if second := h.reports[1]; second.dir != "" || second.metrics["loss"] != 0.25 {
		t.Errorf("second report %+v", second)
	}
}

func TestOutputPrefixed(t *testing.T) {
	t.Parallel()
	body := `
import sys
print("out one")
print("err one", file=sys.stderr)
sys.stdout.write("out two\npartial")
sys.stderr.write("err partial")
`
	r := runScript(t, t.Context(), body, Spec{Prefix: "[rank 1] "}, nil)
	r.ok(t)
	if want := "[rank 1] out one\n[rank 1] out two\n[rank 1] partial\n"; r.stdout != want {
		t.Errorf("stdout %q, want %q", r.stdout, want)
	}
	if want := "[rank 1] err one\n[rank 1] err partial\n"; r.stderr != want {
		t.Errorf("stderr %q, want %q", r.stderr, want)
	}

	// One writer for both: whole lines, each prefixed.
	var both syncBuffer
	body = `
import sys, threading
def spam(f, tag):
    for i in range(200):
        print(tag * 50, file=f)
ts = [threading.Thread(target=spam, args=(sys.stdout, "o")), threading.Thread(target=spam, args=(sys.stderr, "e"))]
for t in ts: t.start()
for t in ts: t.join()
`
	r = runScript(t, t.Context(), body, Spec{Prefix: "> ", Stdout: &both, Stderr: &both}, nil)
	r.ok(t)
	lines := strings.Split(strings.TrimSuffix(both.String(), "\n"), "\n")
	if len(lines) != 400 {
		t.Fatalf("%d lines, want 400", len(lines))
	}
	for _, l := range lines {
		if l != "> "+strings.Repeat("o", 50) && l != "> "+strings.Repeat("e", 50) {
			t.Fatalf("a mixed line: %q", l)
		}
	}
}

func TestScriptNotFound(t *testing.T) {
	t.Parallel()
	err := Run(t.Context(), Spec{Python: interpreter, Script: filepath.Join(t.TempDir(), "nope.py")}, nil)
	if !errors.Is(err, ErrScriptNotFound) {
		t.Fatalf("Run = %v, want ErrScriptNotFound", err)
	}
}

func TestExitCode(t *testing.T) {
	t.Parallel()
	body := `
import sys
for i in range(30):
    print("line", i, file=sys.stderr)
sys.exit(3)
`
	r := runScript(t, t.Context(), body, Spec{Prefix: "[r] "}, nil)
	var x *ExitError
	if !errors.As(r.err, &x) || !errors.Is(r.err, ErrExited) {
		t.Fatalf("Run = %v, want an *ExitError", r.err)
	}
	if errors.Is(r.err, ErrScript) {
		t.Errorf("a sys.exit is not an exception: %v", r.err)
	}
	if x.Code != 3 || x.Signal != "" {
		t.Errorf("code %d signal %q, want 3", x.Code, x.Signal)
	}
	if len(x.Tail) != TailLines || x.Tail[0] != "line 10" || x.Tail[TailLines-1] != "line 29" {
		t.Errorf("tail %q", x.Tail)
	}
	if !strings.Contains(x.Error(), "status 3") || !strings.Contains(x.Error(), "line 29") {
		t.Errorf("Error() = %q", x.Error())
	}
}

func TestUncaughtException(t *testing.T) {
	t.Parallel()
	body := `
def load(path):
    raise ValueError("bad value: " + path)

print("starting")
load("data.csv")
`
	r := runScript(t, t.Context(), body, Spec{}, nil)
	var se *ScriptError
	if !errors.As(r.err, &se) || !errors.Is(r.err, ErrScript) {
		t.Fatalf("Run = %v, want a *ScriptError\nstderr:\n%s", r.err, r.stderr)
	}
	if se.Type != "ValueError" || se.Message != "bad value: data.csv" || se.CollectiveTimeout {
		t.Errorf("ScriptError %+v", se)
	}
	if !strings.Contains(se.Traceback, "train_script.py") || !strings.Contains(se.Traceback, `raise ValueError("bad value: " + path)`) {
		t.Errorf("traceback:\n%s", se.Traceback)
	}
	if strings.Contains(se.Traceback, "_launch.py") || strings.Contains(se.Traceback, "runpy") {
		t.Errorf("the traceback shows the launcher:\n%s", se.Traceback)
	}
	var x *ExitError
	if !errors.As(r.err, &x) || x.Code != 1 || !errors.Is(r.err, ErrExited) {
		t.Errorf("the exit under it: %+v", x)
	}
	if errors.Is(r.err, ErrCollectiveTimeout) {
		t.Error("a ValueError is no collective timeout")
	}
	if !strings.Contains(r.stderr, "ValueError: bad value") {
		t.Errorf("the traceback is not on stderr:\n%s", r.stderr)
	}

	// Other exceptions name their module; SystemExit keeps its code.
	r = runScript(t, t.Context(), "import json\njson.loads('{')\n", Spec{}, nil)
	if !errors.As(r.err, &se) || se.Type != "json.decoder.JSONDecodeError" {
		t.Errorf("Run = %v", r.err)
	}
	r = runScript(t, t.Context(), "raise SystemExit(0)\n", Spec{}, nil)
	r.ok(t)
}

func TestHandlerError(t *testing.T) {
	t.Parallel()
	h := &fakeHandler{reportErr: errors.New("storage full")}
	body := `
import rayo.train as train
try:
    train.report({"loss": 1.0})
except train.TrainError as e:
    assert "storage full" in str(e), e
    assert isinstance(e, RuntimeError)
else:
    raise AssertionError("report did not raise")
try:
    train.get_dataset_shard("nope")
except train.TrainError as e:
    assert "nope" in str(e), e
else:
    raise AssertionError("get_dataset_shard did not raise")
print("caught")
`
	r := runScript(t, t.Context(), body, Spec{}, h)
	r.ok(t)
	if !strings.Contains(r.stdout, "caught") || len(h.reports) != 1 {
		t.Fatalf("stdout %q, %d reports", r.stdout, len(h.reports))
	}

	// No handler at all: every request fails in the script, which lives on.
	body = `
import rayo.train as train
try:
    train.get_checkpoint()
except train.TrainError as e:
    print("no handler:", e)
`
	r = runScript(t, t.Context(), body, Spec{}, nil)
	r.ok(t)
	if !strings.Contains(r.stdout, "no handler: proc: this worker serves no rayo.train requests") {
		t.Fatalf("stdout %q", r.stdout)
	}
}

func TestModule(t *testing.T) {
	t.Parallel()
	need(t, pythonOK())
	dir := t.TempDir()
	pkg := filepath.Join(dir, "mypkg")
	if err := os.Mkdir(pkg, 0o700); err != nil {
		t.Fatal(err)
	}
	body := `
import os, sys
import rayo.train as train
assert sys.argv[0].endswith(os.path.join("mypkg", "main.py")) and sys.argv[1:] == ["a", "b"], sys.argv
assert __name__ == "__main__"
train.report({"module": True})
`
	for name, content := range map[string]string{"__init__.py": "", "main.py": body} {
		if err := os.WriteFile(filepath.Join(pkg, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	h := &fakeHandler{}
	var out syncBuffer
	err := Run(t.Context(), Spec{Python: interpreter, Module: "mypkg.main", Args: []string{"a", "b"}, Dir: dir, Stdout: &out, Stderr: &out}, h)
	result{out.String(), "", err}.ok(t)
	if len(h.reports) != 1 || h.reports[0].metrics["module"] != true {
		t.Fatalf("reports %+v", h.reports)
	}
}

// notifyWriter sends the first line containing want.
type notifyWriter struct {
	syncBuffer
	want string
	line chan string
	once sync.Once
}

func (w *notifyWriter) Write(p []byte) (int, error) {
	n, err := w.syncBuffer.Write(p)
	s := w.String()
	if i := strings.Index(s, w.want); i >= 0 {
		if j := strings.IndexByte(s[i:], '\n'); j >= 0 {
			w.once.Do(func() { w.line <- s[i : i+j] })
		}
	}
	return n, err
}

// pidfd opens a descriptor that becomes readable when process pid exits.
func pidfd(t *testing.T, pid int) int {
	t.Helper()
	const sysPidfdOpen = 434
	fd, _, e := syscall.Syscall(sysPidfdOpen, uintptr(pid), 0, 0)
	if e != 0 {
		t.Fatalf("pidfd_open(%d): %v", pid, e)
	}
	t.Cleanup(func() { _ = syscall.Close(int(fd)) })
	return int(fd)
}

// exitedWithin reports whether the process of pidfd fd exits within d.
func exitedWithin(fd int, d time.Duration) bool {
	var set syscall.FdSet
	set.Bits[fd/64] |= 1 << (uint(fd) % 64)
	tv := syscall.NsecToTimeval(d.Nanoseconds())
	for {
		n, err := syscall.Select(fd+1, &set, nil, nil, &tv)
		if err == syscall.EINTR {
			continue
		}
		return err == nil && n == 1
	}
}

func TestCancelStopsProcessGroup(t *testing.T) {
	t.Parallel()
	body := `
import os, signal, subprocess, sys, time
if sys.argv[1] == "ignore-term":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(100000)"])
print("ready", os.getpid(), child.pid, flush=True)
time.sleep(100000)
`
	for _, mode := range []string{"plain", "ignore-term"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			w := &notifyWriter{want: "ready", line: make(chan string, 1)}
			done := make(chan result, 1)
			go func() {
				done <- runScript(t, ctx, body, Spec{Args: []string{mode}, Stdout: w, StopGrace: 300 * time.Millisecond}, nil)
			}()
			var fds []int
			select {
			case line := <-w.line:
				for _, f := range strings.Fields(line)[1:] {
					pid, err := strconv.Atoi(f)
					if err != nil {
						t.Fatal(err)
					}
					fds = append(fds, pidfd(t, pid))
				}
			case r := <-done:
				t.Fatalf("the script ended before it was ready: %v\n%s\n%s", r.err, r.stdout, r.stderr)
			}
			cancel()
			r := <-done
			if !errors.Is(r.err, context.Canceled) {
				t.Fatalf("Run = %v, want context.Canceled", r.err)
			}
			for i, fd := range fds {
				// Dead by now: Run killed the group before it returned;
				// the bound only keeps a failure from hanging the test.
				if !exitedWithin(fd, 10*time.Second) {
					t.Errorf("process %d of the group still runs", i)
				}
			}
		})
	}
}

func TestContextDoneBeforeStart(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	r := runScript(t, ctx, "raise SystemExit(5)\n", Spec{}, nil)
	if !errors.Is(r.err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", r.err)
	}
}

// sliceShard yields its record in slices of batchSize rows.
type sliceShard struct{ rec arrow.RecordBatch }

func (s *sliceShard) Batches(_ context.Context, batchSize int) iter.Seq2[arrow.RecordBatch, error] {
	return func(yield func(arrow.RecordBatch, error) bool) {
		n := s.rec.NumRows()
		bs := int64(batchSize)
		if bs <= 0 {
			bs = n
		}
		for i := int64(0); i < n; i += bs {
			part := s.rec.NewSlice(i, min(i+bs, n))
			ok := yield(part, nil)
			part.Release()
			if !ok {
				return
			}
		}
	}
}

// datasetRecord is 10 rows of every supported kind of column, row i
// holding i in some form; x is null at 7, name at 3.
func datasetRecord(t *testing.T) arrow.RecordBatch {
	mem := memory.DefaultAllocator
	x := array.NewFloat32Builder(mem)
	id := array.NewInt64Builder(mem)
	vec := array.NewFixedSizeListBuilder(mem, 3, arrow.PrimitiveTypes.Float32)
	vv := vec.ValueBuilder().(*array.Float32Builder)
	name := array.NewStringBuilder(mem)
	flag := array.NewBooleanBuilder(mem)
	u8 := array.NewUint8Builder(mem)
	large := array.NewLargeStringBuilder(mem)
	for i := range 10 {
		if i == 7 {
			x.AppendNull()
		} else {
			x.Append(float32(i) / 2)
		}
		id.Append(int64(i))
		vec.Append(true)
		vv.AppendValues([]float32{float32(i), float32(i + 1), float32(i + 2)}, nil)
		if i == 3 {
			name.AppendNull()
		} else {
			name.Append("n" + strconv.Itoa(i))
		}
		flag.Append(i%2 == 0)
		u8.Append(uint8(i))
		large.Append(strings.Repeat("l", i))
	}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "x", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "vec", Type: arrow.FixedSizeListOf(3, arrow.PrimitiveTypes.Float32)},
		{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "flag", Type: arrow.FixedWidthTypes.Boolean},
		{Name: "u8", Type: arrow.PrimitiveTypes.Uint8},
		{Name: "large", Type: arrow.BinaryTypes.LargeString},
	}, nil)
	builders := []array.Builder{x, id, vec, name, flag, u8, large}
	cols := make([]arrow.Array, len(builders))
	for i, b := range builders {
		cols[i] = b.NewArray()
		b.Release()
	}
	rec := array.NewRecordBatch(schema, cols, 10)
	for _, c := range cols {
		c.Release()
	}
	t.Cleanup(rec.Release)
	return rec
}

func TestDatasetShard(t *testing.T) {
	t.Parallel()
	withTorch := "notorch"
	if torchOK() == nil {
		withTorch = "torch"
	} else if os.Getenv("CI") != "" {
		t.Fatal(torchOK())
	}
	d := array.NewDate32Builder(memory.DefaultAllocator)
	d.Append(1)
	dates := d.NewArray()
	d.Release()
	bad := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "day", Type: arrow.FixedWidthTypes.Date32}}, nil), []arrow.Array{dates}, 1)
	dates.Release()
	defer bad.Release()
	h := &fakeHandler{shards: map[string]Shard{"train": &sliceShard{datasetRecord(t)}, "bad": &sliceShard{bad}}}
	body := `
import math, sys
import numpy as np
import rayo.train as train

shard = train.get_dataset_shard("train")
batches = list(shard.iter_batches(batch_size=4))
assert [len(b["id"]) for b in batches] == [4, 4, 2], [len(b["id"]) for b in batches]
b = batches[0]
assert set(b) == {"x", "id", "vec", "name", "flag", "u8", "large"}, set(b)
assert b["x"].dtype == np.float32 and b["x"].shape == (4,)
assert b["id"].dtype == np.int64 and b["u8"].dtype == np.uint8
assert b["vec"].dtype == np.float32 and b["vec"].shape == (4, 3), b["vec"].shape
assert b["flag"].dtype == np.bool_ and b["name"].dtype == object
for k, v in b.items():
    assert v.flags.writeable, k
    if v.dtype != object:
        assert v.ctypes.data % 64 == 0 or v.size == 0, (k, v.ctypes.data)
whole = {k: np.concatenate([b[k] for b in batches]) for k in b}
assert whole["id"].tolist() == list(range(10))
assert whole["u8"].tolist() == list(range(10))
assert whole["flag"].tolist() == [i % 2 == 0 for i in range(10)]
x = whole["x"]
assert math.isnan(x[7]) and [x[i] for i in range(10) if i != 7] == [i / 2 for i in range(10) if i != 7], x
assert whole["vec"].tolist() == [[i, i + 1, i + 2] for i in range(10)]
assert whole["name"].tolist() == ["n%d" % i if i != 3 else None for i in range(10)]
assert whole["large"].tolist() == ["l" * i for i in range(10)]

# Another epoch; drop_last; the shard's own batches (batch_size None).
assert [len(b["id"]) for b in shard.iter_batches(batch_size=4, drop_last=True)] == [4, 4]
assert [len(b["id"]) for b in shard.iter_batches(batch_size=None)] == [10]

# A new iteration ends an unfinished one.
it = shard.iter_batches(batch_size=3)
next(it)
assert len(next(iter(shard.iter_batches(batch_size=5)))["id"]) == 5
try:
    next(it)
except train.TrainError as e:
    assert "has ended" in str(e), e
else:
    raise AssertionError("the superseded iteration went on")

try:
    list(train.get_dataset_shard("bad").iter_batches())
except train.TrainError as e:
    assert "day" in str(e) and "date32" in str(e), e
else:
    raise AssertionError("a date column went through")

if sys.argv[1] == "torch":
    import torch
    tb = list(shard.iter_torch_batches(batch_size=5, dtypes={"x": torch.float64}))
    assert len(tb) == 2
    t0 = tb[0]
    assert t0["x"].dtype == torch.float64 and t0["id"].dtype == torch.int64 and t0["flag"].dtype == torch.bool
    assert t0["vec"].shape == (5, 3) and t0["vec"].dtype == torch.float32
    assert t0["vec"].device.type == "cpu"
    assert t0["id"].tolist() == [0, 1, 2, 3, 4] and tb[1]["vec"][0].tolist() == [5.0, 6.0, 7.0]
    assert list(t0["name"]) == ["n0", "n1", "n2", None, "n4"]
    all_f = list(shard.iter_torch_batches(batch_size=10, dtypes=torch.float32))
    assert all_f[0]["id"].dtype == torch.float32
print("shard ok")
`
	r := runScript(t, t.Context(), body, Spec{Args: []string{withTorch}}, h)
	r.ok(t)
	if !strings.Contains(r.stdout, "shard ok") {
		t.Fatalf("stdout %q", r.stdout)
	}
}

// TestRayoPythonPath runs the script against a checkout's package.
func TestRayoPythonPath(t *testing.T) {
	dev, err := filepath.Abs("../../../python")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("RAYO_PYTHONPATH", dev)
	body := `
import sys, rayo.train
print(rayo.train.__file__)
`
	// No __pycache__ in the checkout.
	r := runScript(t, t.Context(), body, Spec{Env: map[string]string{"PYTHONDONTWRITEBYTECODE": "1"}}, nil)
	r.ok(t)
	if !strings.HasPrefix(strings.TrimSpace(r.stdout), filepath.Join(dev, "rayo", "train")) {
		t.Fatalf("rayo.train from %q, want %s", r.stdout, dev)
	}

	t.Setenv("RAYO_PYTHONPATH", "")
	r = runScript(t, t.Context(), body, Spec{}, nil)
	r.ok(t)
	if !strings.HasPrefix(strings.TrimSpace(r.stdout), os.Getenv("XDG_CACHE_HOME")) {
		t.Fatalf("rayo.train from %q, want the extracted copy under %s", r.stdout, os.Getenv("XDG_CACHE_HOME"))
	}
}

// rendezvous lets n parties wait for one another.
type rendezvous struct {
	mu   sync.Mutex
	n    int
	done chan struct{}
}

func (r *rendezvous) arrive(ctx context.Context) error {
	r.mu.Lock()
	r.n--
	if r.n == 0 {
		close(r.done)
	}
	r.mu.Unlock()
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestCollectiveTimeout runs two gloo ranks; rank 1 never joins rank 0's
// barrier, which must fail within the launcher's timeout (the script
// gives none) as a collective timeout. Both ranks import torch before
// either starts the group (a rendezvous through the handlers), so that a
// slow import on a busy machine cannot eat into the 2 s.
func TestCollectiveTimeout(t *testing.T) {
	t.Parallel()
	need(t, torchOK())
	port := freePort(t)
	meet := &rendezvous{n: 2, done: make(chan struct{})}
	body := `
import os
import rayo.train as train
import torch.distributed as dist

rank = int(os.environ["RANK"])
train.get_checkpoint()  # both ranks are here, torch imported
dist.init_process_group("gloo")
print("joined", flush=True)
if rank == 0:
    dist.barrier()  # rank 1 never comes
else:
    train.report({"waiting": True})  # held until the test stops this rank
`
	ctx1, stop1 := context.WithCancel(t.Context())
	defer stop1()
	results := make([]chan result, 2)
	for rank := range 2 {
		results[rank] = make(chan result, 1)
		h := &fakeHandler{onCheckpoint: func(ctx context.Context) (string, error) { return "", meet.arrive(ctx) }}
		ctx := t.Context()
		if rank == 1 {
			ctx = ctx1
			h.onReport = func(ctx context.Context) error {
				<-ctx.Done()
				return ctx.Err()
			}
		}
		spec := Spec{
			Prefix: fmt.Sprintf("[rank %d] ", rank), CollectiveTimeout: 2 * time.Second, StopGrace: time.Second,
			Env: map[string]string{"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": strconv.Itoa(port), "RANK": strconv.Itoa(rank),
				"LOCAL_RANK": strconv.Itoa(rank), "WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2", "GLOO_SOCKET_IFNAME": "lo"},
		}
		go func() { results[rank] <- runScript(t, ctx, body, spec, h) }()
	}
	r0 := <-results[0]
	stop1()
	r1 := <-results[1]
	if !errors.Is(r1.err, context.Canceled) {
		t.Errorf("rank 1: Run = %v, want context.Canceled\nstderr:\n%s", r1.err, r1.stderr)
	}
	var se *ScriptError
	if !errors.As(r0.err, &se) {
		t.Fatalf("rank 0: Run = %v, want a *ScriptError\nstdout:\n%s\nstderr:\n%s", r0.err, r0.stdout, r0.stderr)
	}
	t.Logf("rank 0: %s: %s", se.Type, se.Message)
	if !se.CollectiveTimeout || !errors.Is(r0.err, ErrCollectiveTimeout) {
		t.Fatalf("rank 0 failed, but not as a collective timeout: %s: %s\n%s", se.Type, se.Message, se.Traceback)
	}
	if !strings.Contains(r0.stdout, "joined") {
		t.Errorf("rank 0 timed out before the group was up: %s", r0.stdout)
	}
}

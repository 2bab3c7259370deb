package rayo_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rayo-dev/rayo"
)

// pythonModule is what the Go-to-Python tests call.
const pythonModule = `
class Boom(Exception):
    pass

def add(a, b):
    return a + b

def fail(msg):
    raise Boom(msg)

def opaque():
    return object()

def total(xs):
    return float(sum(xs))

class Counter:
    def __init__(self, start):
        self.n = start

    def incr(self, k):
        self.n += k
        return self.n
`

// initWithPython starts an embedded cluster whose workers run Python
// tasks with Debian's interpreter, rayo's package from this checkout and
// the test module; it skips (fails under CI) without the packages.
func initWithPython(t *testing.T) context.Context {
	t.Helper()
	const python = "/usr/bin/python3"
	if out, err := exec.Command(python, "-c", "import msgpack, cloudpickle, numpy").CombinedOutput(); err != nil {
		msg := "Python calls need " + python + " with python3-msgpack, -cloudpickle and -numpy: " + string(out)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "gocalls.py"), []byte(pythonModule), 0o600); err != nil {
		t.Fatal(err)
	}
	pkg, err := filepath.Abs("python")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	if err := rayo.Init(ctx, rayo.WithNumCPUs(2), rayo.WithLogToDriver(false), rayo.WithTempDir(t.TempDir()),
		rayo.WithEnv(map[string]string{"PYTHONPATH": pkg + string(os.PathListSeparator) + dir, "RAYO_PYTHON": python})); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rayo.Shutdown)
	return ctx
}

func TestCallPythonFromGo(t *testing.T) {
	ctx := initWithPython(t)
	if v, err := rayo.PythonFunction[int]("gocalls.add").Remote(2, 3).Get(ctx); err != nil || v != 5 {
		t.Fatalf("gocalls.add(2, 3) = %v, %v", v, err)
	}
	// A reference argument arrives as its value; a float64 slice as a list.
	xs, err := rayo.Put(ctx, []float64{1, 2, 3.5})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := rayo.PythonFunction[float64]("gocalls.total").Remote(xs).Get(ctx); err != nil || v != 6.5 {
		t.Fatalf("gocalls.total = %v, %v", v, err)
	}
	// Python's exception reaches Go as a TaskError with its traceback.
	_, err = rayo.PythonFunction[int]("gocalls.fail").Remote("no luck").Get(ctx)
	var te *rayo.TaskError
	if !errors.As(err, &te) || !errors.Is(err, rayo.ErrTaskFailed) || !strings.Contains(te.Message, "Boom: no luck") ||
		!strings.Contains(te.Stack, "Traceback") {
		t.Fatalf("a raising Python function: %v (%+v)", err, te)
	}
	// A Python object Go cannot read is a clear error, not garbage.
	if _, err := rayo.PythonFunction[int]("gocalls.opaque").Remote().Get(ctx); err == nil || !strings.Contains(err.Error(), "Python object") {
		t.Fatalf("an opaque Python result: %v", err)
	}
	// A name that imports nothing fails the call as malformed.
	if _, err := rayo.PythonFunction[int]("gocalls_missing.f").Remote().Get(ctx); !errors.Is(err, rayo.ErrBadCall) {
		t.Fatalf("a missing module: %v, want ErrBadCall", err)
	}
	if _, err := rayo.PythonFunction[int]("nodots").Remote().Get(ctx); !errors.Is(err, rayo.ErrBadCall) {
		t.Fatalf("a name without a module: %v, want ErrBadCall", err)
	}
}

func TestPythonActorFromGo(t *testing.T) {
	ctx := initWithPython(t)
	c, err := rayo.PythonActorClass("gocalls.Counter").New(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{11, 13, 16} {
		if v, err := rayo.CallPython[int](c, "incr", i+1).Get(ctx); err != nil || v != want {
			t.Fatalf("incr(%d) = %v, %v; want %d", i+1, v, err, want)
		}
	}
	if _, err := rayo.CallPython[int](c, "nope").Get(ctx); !errors.Is(err, rayo.ErrBadCall) {
		t.Fatalf("a missing method: %v, want ErrBadCall", err)
	}
	if err := rayo.Kill(ctx, c, true); err != nil {
		t.Fatal(err)
	}
	if _, err := rayo.CallPython[int](c, "incr", 1).Get(ctx); !errors.Is(err, rayo.ErrActorDied) {
		t.Fatalf("after Kill: %v, want ErrActorDied", err)
	}
}

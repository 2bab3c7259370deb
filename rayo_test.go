package rayo_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rayo-dev/rayo"
)

type payload struct {
	Name  string
	Inner rayo.ObjectRef[int]
}

var (
	tAdd    = rayo.Register[int]("test.add", func(a, b int) int { return a + b })
	tPid    = rayo.Register[int]("test.pid", func() int { return os.Getpid() })
	tBorrow = rayo.Register[string]("test.borrow", func(ctx context.Context, p payload) (string, error) {
		// A nested ref arrives as a ref: the worker borrows it from its
		// owner, the driver.
		v, err := p.Inner.Get(ctx)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s=%d", p.Name, v), nil
	})
	tSleep = rayo.Register[int]("test.sleep", func(ctx context.Context, ms int) (int, error) {
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
			return ms, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	})
	tPanic = rayo.Register[int]("test.panic", func() int { panic("boom") })
	// tSplit returns n chunks of size bytes, chunk i filled with i.
	tSplit = rayo.Register[[][]byte]("test.split", func(n, size int) [][]byte {
		out := make([][]byte, n)
		for i := range out {
			out[i] = bytes.Repeat([]byte{byte(i)}, size)
		}
		return out
	})
	tLen = rayo.Register[int]("test.len", func(b []byte) int { return len(b) })
	// tSumFrom is variadic: base + every further argument.
	tSumFrom = rayo.Register[int]("test.sumFrom", func(base int, xs ...int) int {
		for _, x := range xs {
			base += x
		}
		return base
	})
	tNested = rayo.Register[int]("test.nested", func(ctx context.Context, n int) (int, error) {
		// Tasks may submit tasks; the worker owns their results.
		return tAdd.Remote(n, n).Get(ctx)
	})
)

func initEmbedded(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	if err := rayo.Init(ctx, rayo.WithNumCPUs(2), rayo.WithLogToDriver(false), rayo.WithTempDir(t.TempDir())); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rayo.Shutdown)
	return ctx
}

func TestNotInitialized(t *testing.T) {
	if _, err := tAdd.Remote(1, 2).Get(context.Background()); !errors.Is(err, rayo.ErrNotInitialized) {
		t.Fatalf("Get before Init: %v, want ErrNotInitialized", err)
	}
	if _, err := rayo.Put(context.Background(), 1); !errors.Is(err, rayo.ErrNotInitialized) {
		t.Fatalf("Put before Init: %v, want ErrNotInitialized", err)
	}
}

func TestEmbeddedTasks(t *testing.T) {
	ctx := initEmbedded(t)
	if err := rayo.Init(ctx); err == nil {
		t.Fatal("a second Init succeeded")
	}
	v, err := tAdd.Remote(2, 3).Get(ctx)
	if err != nil || v != 5 {
		t.Fatalf("add: %v, %v", v, err)
	}
	pid, err := tPid.Remote().Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if pid == os.Getpid() {
		t.Fatal("the task ran in the driver process, not in a worker")
	}
	// Refs as arguments, in any position, mixed with values.
	r1, err := rayo.Put(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	v, err = tAdd.Remote(tAdd.Remote(r1, 1), r1).Get(ctx)
	if err != nil || v != 21 {
		t.Fatalf("dependent: %v, %v", v, err)
	}
	s, err := tBorrow.Remote(payload{Name: "x", Inner: r1}).Get(ctx)
	if err != nil || s != "x=10" {
		t.Fatalf("nested ref: %q, %v", s, err)
	}
	v, err = tNested.Remote(4).Get(ctx)
	if err != nil || v != 8 {
		t.Fatalf("nested task: %v, %v", v, err)
	}
}

func TestBadCalls(t *testing.T) {
	ctx := initEmbedded(t)
	cases := map[string]rayo.ObjectRef[int]{
		"too few args":   tAdd.Remote(1),
		"too many args":  tAdd.Remote(1, 2, 3),
		"wrong type":     tAdd.Remote("1", 2),
		"wrong ref type": tAdd.Remote(must(rayo.Put(ctx, "s")), 2),
		"bad option":     tAdd.Options(rayo.NumCPUs(-1)).Remote(1, 2),
	}
	for name, ref := range cases {
		_, err := ref.Get(ctx)
		want := rayo.ErrBadCall
		if name == "bad option" {
			want = rayo.ErrInvalidOption
		}
		if !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", name, err, want)
		}
	}
}

// Variadic tasks take any number of trailing arguments, values or
// references (each resolved like a fixed argument).
func TestVariadicTask(t *testing.T) {
	ctx := initEmbedded(t)
	if v, err := tSumFrom.Remote(1).Get(ctx); err != nil || v != 1 {
		t.Fatalf("no variadic arguments: %v, %v", v, err)
	}
	args := []any{100}
	want := 100
	for i := range 50 {
		if i%2 == 0 {
			args = append(args, must(rayo.Put(ctx, i)))
		} else {
			args = append(args, tSumFrom.Remote(i))
		}
		want += i
	}
	if v, err := tSumFrom.Remote(args...).Get(ctx); err != nil || v != want {
		t.Fatalf("50 variadic arguments: %v, %v; want %d", v, err, want)
	}
	if _, err := tSumFrom.Remote().Get(ctx); !errors.Is(err, rayo.ErrBadCall) {
		t.Fatalf("too few arguments: %v, want ErrBadCall", err)
	}
	if _, err := tSumFrom.Remote(1, 2, "x").Get(ctx); !errors.Is(err, rayo.ErrBadCall) {
		t.Fatalf("a wrong variadic type: %v, want ErrBadCall", err)
	}
}

// RemoteN splits a task's slice result into one object per element
// (Ray's num_returns), small ones inline and large ones in the store.
func TestMultipleReturns(t *testing.T) {
	ctx := initEmbedded(t)
	for _, size := range []int{10, 300 << 10} { // inline, and stored
		refs := rayo.RemoteN(tSplit, 3, 3, size)
		if len(refs) != 3 {
			t.Fatalf("%d refs, want 3", len(refs))
		}
		for i := len(refs) - 1; i >= 0; i-- { // in any order
			b, err := refs[i].Get(ctx)
			if err != nil || len(b) != size || b[0] != byte(i) || b[size-1] != byte(i) {
				t.Fatalf("size %d: return %d: %d bytes, %v", size, i, len(b), err)
			}
		}
		// An element passed on as an argument.
		if n, err := tLen.Remote(refs[1]).Get(ctx); err != nil || n != size {
			t.Fatalf("size %d: a return as an argument: %d, %v", size, n, err)
		}
	}
	many := rayo.RemoteN(tSplit, 3000, 3000, 1)
	got, err := rayo.GetAll(ctx, many)
	if err != nil || len(got) != 3000 || got[2999][0] != byte(2999%256) {
		t.Fatalf("3000 returns: %d, %v", len(got), err)
	}
	// A function that returns another number of elements fails them all.
	for _, r := range rayo.RemoteN(tSplit, 2, 3, 1) {
		if _, err := r.Get(ctx); !errors.Is(err, rayo.ErrTaskFailed) {
			t.Fatalf("2 refs for 3 values: %v, want ErrTaskFailed", err)
		}
	}
	if _, err := rayo.RemoteN(tSplit, 0, 1, 1)[0].Get(ctx); !errors.Is(err, rayo.ErrInvalidOption) {
		t.Fatalf("n = 0: %v, want ErrInvalidOption", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestPanicIsTaskError(t *testing.T) {
	ctx := initEmbedded(t)
	_, err := tPanic.Remote().Get(ctx)
	var te *rayo.TaskError
	if !errors.As(err, &te) || !errors.Is(err, rayo.ErrTaskFailed) {
		t.Fatalf("panic: %v, want a TaskError wrapping ErrTaskFailed", err)
	}
	if !te.Panicked || te.Stack == "" || te.Pid == 0 || te.Message != "panic: boom" {
		t.Fatalf("panic details missing: %+v", te)
	}
	// The worker survives a panic: the next task runs.
	if v, err := tAdd.Remote(1, 1).Get(ctx); err != nil || v != 2 {
		t.Fatalf("after panic: %v, %v", v, err)
	}
}

func TestWaitAndTimeout(t *testing.T) {
	ctx := initEmbedded(t)
	fast, slowRef := tSleep.Remote(1), tSleep.Remote(20_000)
	ready, notReady, err := rayo.Wait(ctx, []rayo.ObjectRef[int]{slowRef, fast}, 1, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(ready) != 1 || ready[0].ID() != fast.ID() || len(notReady) != 1 {
		t.Fatalf("Wait: ready %v, not ready %v", ready, notReady)
	}
	// Wait with a timeout returns what is ready, without error.
	ready, _, err = rayo.Wait(ctx, []rayo.ObjectRef[int]{slowRef}, 1, 10*time.Millisecond)
	if err != nil || len(ready) != 0 {
		t.Fatalf("Wait timeout: %v, %v", ready, err)
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	_, err = slowRef.Get(short)
	if !errors.Is(err, rayo.ErrGetTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get past deadline: %v", err)
	}
	if err := rayo.Cancel(slowRef, false); err != nil {
		t.Fatal(err)
	}
	if _, err := slowRef.Get(ctx); !errors.Is(err, rayo.ErrTaskCancelled) {
		t.Fatalf("cancelled: %v", err)
	}
	if _, _, err := rayo.Wait(ctx, []rayo.ObjectRef[int]{fast}, 2, 0); !errors.Is(err, rayo.ErrInvalidOption) {
		t.Fatalf("Wait numReady > len: %v", err)
	}
}

var tFlaky = rayo.Register[int]("test.flaky", func(dir string, failures int) (int, error) {
	// Each attempt leaves a file; the first `failures` attempts fail.
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	attempt := len(entries) + 1
	if err := os.WriteFile(fmt.Sprintf("%s/attempt-%d", dir, attempt), nil, 0o644); err != nil {
		return 0, err
	}
	if attempt <= failures {
		return 0, fmt.Errorf("attempt %d fails", attempt)
	}
	return attempt, nil
})

func TestRetryExceptions(t *testing.T) {
	ctx := initEmbedded(t)
	// Application errors are not retried by default.
	_, err := tFlaky.Remote(t.TempDir(), 1).Get(ctx)
	if !errors.Is(err, rayo.ErrTaskFailed) {
		t.Fatalf("no retry: %v", err)
	}
	// With RetryExceptions they are, up to MaxRetries.
	v, err := tFlaky.Options(rayo.RetryExceptions(true), rayo.MaxRetries(2)).Remote(t.TempDir(), 2).Get(ctx)
	if err != nil || v != 3 {
		t.Fatalf("retried: %v, %v; want success on attempt 3", v, err)
	}
	_, err = tFlaky.Options(rayo.RetryExceptions(true), rayo.MaxRetries(1)).Remote(t.TempDir(), 2).Get(ctx)
	var te *rayo.TaskError
	if !errors.As(err, &te) || te.Message != "attempt 2 fails" {
		t.Fatalf("retries exhausted: %v", err)
	}
}

func TestFractionalCPUs(t *testing.T) {
	ctx := initEmbedded(t)
	// Four half-CPU tasks fit at once on two CPUs: they all run together
	// (each waits for the others through the barrier directory).
	dir := t.TempDir()
	refs := make([]rayo.ObjectRef[int], 4)
	for i := range refs {
		refs[i] = tBarrier.Options(rayo.NumCPUs(0.5)).Remote(dir, 4)
	}
	if _, err := rayo.GetAll(ctx, refs); err != nil {
		t.Fatal(err)
	}
}

var tBarrier = rayo.Register[int]("test.barrier", barrierWait)

// barrierWait returns once n callers have arrived in dir.
func barrierWait(ctx context.Context, dir string, n int) (int, error) {
	f, err := os.CreateTemp(dir, "arrived-")
	if err != nil {
		return 0, err
	}
	_ = f.Close()
	for {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return 0, err
		}
		if len(entries) >= n {
			return len(entries), nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// tFanOut calls itself, so it is registered in init.
var tFanOut *rayo.Task[int]

func init() { tFanOut = rayo.Register[int]("test.fanOut", fanOut) }

func fanOut(ctx context.Context, depth, width int) (int, error) {
	if depth == 0 {
		return 1, nil
	}
	refs := make([]rayo.ObjectRef[int], width)
	for i := range refs {
		refs[i] = tFanOut.Remote(depth-1, width)
	}
	vs, err := rayo.GetAll(ctx, refs)
	sum := 0
	for _, v := range vs {
		sum += v
	}
	return sum, err
}

// Tasks that wait on their own subtasks lend their CPU while they wait:
// a tree deeper than the node has CPUs still completes.
func TestNestedTasksDoNotDeadlock(t *testing.T) {
	ctx := initEmbedded(t) // 2 CPUs
	v, err := tFanOut.Remote(4, 2).Get(ctx)
	if err != nil || v != 16 {
		t.Fatalf("fan-out tree: %v %v", v, err)
	}
}

func TestSpreadDoesNotStick(t *testing.T) {
	ctx := initEmbedded(t)
	// One node: SPREAD tasks still all run (each on a lease of its own).
	refs := make([]rayo.ObjectRef[int], 20)
	for i := range refs {
		refs[i] = tAdd.Options(rayo.Spread()).Remote(i, 1)
	}
	vs, err := rayo.GetAll(ctx, refs)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vs {
		if v != i+1 {
			t.Fatalf("spread task %d returned %d", i, v)
		}
	}
}

// The embedded cluster runs the dashboard when asked, behind the token.
func TestEmbeddedDashboard(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	if err := rayo.Init(ctx, rayo.WithNumCPUs(1), rayo.WithLogToDriver(false), rayo.WithTempDir(dir),
		rayo.WithDashboard("127.0.0.1:0")); err != nil {
		t.Fatal(err)
	}
	defer rayo.Shutdown()
	addr := rayo.DashboardAddress()
	if addr == "" {
		t.Fatal("no dashboard address")
	}
	token, err := os.ReadFile(filepath.Join(dir, "embedded", "session_latest", "token"))
	if err != nil {
		t.Fatal(err)
	}
	get := func(tok string) int {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/api/v0/nodes", nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(strings.TrimSpace(string(token))); code != http.StatusOK {
		t.Fatalf("with the token: %d", code)
	}
	if code := get(""); code != http.StatusUnauthorized {
		t.Fatalf("without the token: %d", code)
	}
	rayo.Shutdown()
	if _, err := http.Get("http://" + addr + "/"); err == nil {
		t.Fatal("the dashboard still answers after Shutdown")
	}
}

var tProcs = rayo.Register[int]("test.procs", func() int { return runtime.GOMAXPROCS(0) })

// A worker runs Go with as many Ps as CPUs its task asked for (at least
// one), as Ray sets OMP_NUM_THREADS to num_cpus.
func TestWorkerProcsFollowTheCPURequest(t *testing.T) {
	if os.Getenv("GOMAXPROCS") != "" {
		t.Skip("GOMAXPROCS set in the environment: workers keep it")
	}
	ctx := initEmbedded(t)
	for _, c := range []struct {
		cpus float64
		want int
	}{{1, 1}, {2, 2}, {0.5, 1}, {1, 1}} {
		got, err := tProcs.Options(rayo.NumCPUs(c.cpus)).Remote().Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("a task asking for %v CPUs ran with GOMAXPROCS=%d, want %d", c.cpus, got, c.want)
		}
	}
}

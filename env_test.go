package rayo_test

import (
	"context"
	"errors"
	"iter"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rayo-dev/rayo"
)

// envSeen is what a task or actor saw of a variable, and where it ran.
type envSeen struct {
	Pid   int
	Value string
	Set   bool
}

func lookEnv(name string) envSeen {
	v, ok := os.LookupEnv(name)
	return envSeen{Pid: os.Getpid(), Value: v, Set: ok}
}

type envActor struct{}

func (*envActor) Look(name string) envSeen { return lookEnv(name) }

var (
	tEnvLook = rayo.Register[envSeen]("test.envLook", lookEnv)
	// tEnvNested looks from a task it submits without EnvVars of its own.
	tEnvNested = rayo.Register[envSeen]("test.envNested", func(ctx context.Context, name string) (envSeen, error) {
		return tEnvLook.Remote(name).Get(ctx)
	})
	// tEnvSecretLen tells only the length of a variable's value.
	tEnvSecretLen = rayo.Register[int]("test.envSecretLen", func(name string) int { return len(os.Getenv(name)) })
	envActorType  = rayo.RegisterActor[envActor]("test.envActor", func() (*envActor, error) { return &envActor{}, nil })
	envActorLook  = rayo.RegisterMethod[envSeen](envActorType, "Look", (*envActor).Look)
	// sEnvLook streams one lookup.
	sEnvLook = rayo.RegisterStream[envSeen]("test.envLookStream", func(name string) iter.Seq2[envSeen, error] {
		return func(yield func(envSeen, error) bool) { yield(lookEnv(name), nil) }
	})
)

// A streaming task takes EnvVars as any task does.
func TestEnvVarsStream(t *testing.T) {
	ctx := initEmbedded(t)
	s := sEnvLook.Options(rayo.EnvVars(map[string]string{envTestVar: "streamed"})).Remote(envTestVar)
	ref, err := s.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v, err := ref.Get(ctx)
	if err != nil || v.Value != "streamed" {
		t.Fatalf("a streaming task with EnvVars saw %+v (%v), want %q", v, err, "streamed")
	}
}

const envTestVar = "RAYOTEST_ENV_VAR"

// lookAll runs n lookups of envTestVar at once with the task t.
func lookAll(ctx context.Context, t *testing.T, task *rayo.Task[envSeen], n int) []envSeen {
	t.Helper()
	refs := make([]rayo.ObjectRef[envSeen], n)
	for i := range refs {
		refs[i] = task.Remote(envTestVar)
	}
	out := make([]envSeen, n)
	for i, r := range refs {
		v, err := r.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = v
	}
	return out
}

// workersWith lists this process's children whose environment holds
// entry ("NAME=value").
func workersWith(t *testing.T, entry string) map[int]bool {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	out := map[int]bool{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces; it ends at the last ')'.
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(f) < 2 || f[1] != strconv.Itoa(os.Getpid()) {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil {
			continue
		}
		for _, kv := range strings.Split(string(env), "\x00") {
			if kv == entry {
				out[pid] = true
			}
		}
	}
	return out
}

// A task's EnvVars are set in the worker process that runs it, on top of
// the job's; workers are pooled by environment: calls of two
// environments (or of one and none) never share a process, and a worker
// of an environment serves that environment's next call.
func TestEnvVarsTasks(t *testing.T) {
	ctx := initEmbedded(t)
	if s := lookEnv(envTestVar); s.Set {
		t.Fatalf("%s is set in the driver", envTestVar)
	}
	envA := tEnvLook.Options(rayo.EnvVars(map[string]string{envTestVar: "a"}))
	envB := tEnvLook.Options(rayo.EnvVars(map[string]string{envTestVar: "b", "OTHER": "1"}))
	pids := map[string]map[int]bool{"a": {}, "b": {}, "": {}}
	for round := 0; round < 2; round++ {
		for _, c := range []struct {
			task *rayo.Task[envSeen]
			want string
		}{{envA, "a"}, {envB, "b"}, {tEnvLook, ""}} {
			for _, s := range lookAll(ctx, t, c.task, 4) {
				if s.Value != c.want || s.Set != (c.want != "") {
					t.Fatalf("environment %q: the task saw %+v", c.want, s)
				}
				pids[c.want][s.Pid] = true
			}
		}
	}
	for env, ps := range pids {
		for other, qs := range pids {
			for p := range ps {
				if env != other && qs[p] {
					t.Fatalf("worker %d served environments %q and %q", p, env, other)
				}
			}
		}
	}
	// The next call of environment a runs in one of its workers, already
	// started (the node's workers are children of this process).
	before := workersWith(t, envTestVar+"=a")
	s, err := envA.Remote(envTestVar).Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(before) == 0 || !before[s.Pid] {
		t.Errorf("environment a's call ran in a new worker %d, not one of its workers %v", s.Pid, before)
	}
	// EnvVars given twice merge; the later value wins.
	s, err = envA.Options(rayo.EnvVars(map[string]string{envTestVar: "a2"})).Remote(envTestVar).Get(ctx)
	if err != nil || s.Value != "a2" || pids["a"][s.Pid] {
		t.Errorf("EnvVars given again: %+v, %v; want a2 in a worker other than a's", s, err)
	}
}

// As in Ray, the calls a task submits inherit its variables.
func TestEnvVarsInherited(t *testing.T) {
	ctx := initEmbedded(t)
	s, err := tEnvNested.Options(rayo.EnvVars(map[string]string{envTestVar: "outer"})).Remote(envTestVar).Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s.Value != "outer" {
		t.Fatalf("the nested task saw %+v, want the outer task's value", s)
	}
}

// An actor's EnvVars are set in its process.
func TestEnvVarsActor(t *testing.T) {
	ctx := initEmbedded(t)
	a, err := envActorType.Options(rayo.EnvVars(map[string]string{envTestVar: "actor"})).New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rayo.Kill(ctx, a, true) }()
	s, err := envActorLook.Remote(a, envTestVar).Get(ctx)
	if err != nil || s.Value != "actor" {
		t.Fatalf("the actor saw %+v, %v", s, err)
	}
	plain, err := envActorType.New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rayo.Kill(ctx, plain, true) }()
	if s, err := envActorLook.Remote(plain, envTestVar).Get(ctx); err != nil || s.Set {
		t.Fatalf("an actor without EnvVars saw %+v, %v", s, err)
	}
}

// Names rayo needs for itself, and malformed names or values, are
// ErrInvalidOption at the call, for tasks and actors; the error never
// shows the value.
func TestEnvVarsInvalid(t *testing.T) {
	ctx := initEmbedded(t)
	for _, env := range []map[string]string{
		{"": "s3cret"},
		{"A=B": "s3cret"},
		{"A\x00B": "s3cret"},
		{"A": "s3c\x00ret"},
		{"RAYO_TOKEN": "s3cret"},
		{"RAYO_NODE_ADDRESS": "s3cret"},
		{"CUDA_VISIBLE_DEVICES": "0"},
	} {
		_, err := tEnvLook.Options(rayo.EnvVars(env)).Remote(envTestVar).Get(ctx)
		if !errors.Is(err, rayo.ErrInvalidOption) {
			t.Errorf("task with %q: %v, want ErrInvalidOption", env, err)
		} else if strings.Contains(err.Error(), "s3c") {
			t.Errorf("the error shows the value: %v", err)
		}
		if _, err := envActorType.Options(rayo.EnvVars(env)).New(ctx); !errors.Is(err, rayo.ErrInvalidOption) {
			t.Errorf("actor with %q: %v, want ErrInvalidOption", env, err)
		}
	}
}

// A value (perhaps a secret) appears in no worker's command line and in
// no file of the session (logs included).
func TestEnvVarsValuesNotShown(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := rayo.Init(ctx, rayo.WithNumCPUs(2), rayo.WithLogToDriver(false), rayo.WithTempDir(dir)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rayo.Shutdown)
	secret := "s3cret-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	task := tEnvSecretLen.Options(rayo.EnvVars(map[string]string{"RAYOTEST_SECRET": secret}))
	n, err := task.Remote("RAYOTEST_SECRET").Get(ctx)
	if err != nil || n != len(secret) {
		t.Fatalf("the task saw a value of length %d, %v; want %d", n, err, len(secret))
	}
	pid, err := tPid.Options(rayo.EnvVars(map[string]string{"RAYOTEST_SECRET": secret})).Remote().Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cmd, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); err == nil && strings.Contains(string(cmd), secret) {
		t.Errorf("worker %d's command line shows the value", pid)
	}
	rayo.Shutdown() // its logs complete
	err = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err == nil && strings.Contains(string(b), secret) {
			t.Errorf("%s shows the value", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

package core

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/rayo-dev/rayo/internal/errs"
	"github.com/rayo-dev/rayo/internal/protocol"
)

func TestResolvedValues(t *testing.T) {
	ref := Ref{ID: "r", Owner: "o"}
	for _, tc := range []struct {
		name string
		args []TaskArg
		ok   bool
	}{
		{"none", nil, true},
		{"small values", []TaskArg{{Value: []byte("a")}, {Value: []byte("bb")}}, true},
		{"at the limit", []TaskArg{{Value: make([]byte, 8)}}, true},
		{"over the limit", []TaskArg{{Value: []byte("a")}, {Value: make([]byte, 9)}}, false},
		{"a reference", []TaskArg{{Value: []byte("a")}, {Ref: &ref}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vals, ok := resolvedValues(tc.args, 8)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if ok {
				if len(vals) != len(tc.args) {
					t.Fatalf("%d values for %d args", len(vals), len(tc.args))
				}
				for i := range vals {
					if string(vals[i].V) != string(tc.args[i].Value) || vals[i].Loc != nil {
						t.Fatalf("value %d = %+v", i, vals[i])
					}
				}
			}
		})
	}
}

func TestResolveForCall(t *testing.T) {
	rt := newTestRuntime(t, newFakeCluster())
	ready, err := rt.PutBytes(context.Background(), Encoded{Data: []byte("ready")})
	if err != nil {
		t.Fatal(err)
	}
	// A stored object resolves to its location, not its bytes.
	stored := Ref{ID: rt.nextID(), Owner: rt.Addr()}
	loc := &protocol.ObjectLocation{NodeID: "n", Size: 1 << 20}
	rt.store.create(stored.ID).completeArg(protocol.Arg{ID: stored.ID, Loc: loc})
	// A dependency that failed.
	failed := Ref{ID: rt.nextID(), Owner: rt.Addr()}
	depErr := errs.NewTaskError("dep", failed.ID, errs.ErrWorkerCrashed, errors.New("worker died"), "", false)
	rt.store.create(failed.ID).complete(nil, depErr.ToWire())
	gone := Ref{ID: "gone", Owner: rt.Addr()}
	pending := Ref{ID: rt.nextID(), Owner: rt.Addr()}
	rt.store.create(pending.ID)

	vals, err := rt.resolveForCall(context.Background(), []TaskArg{{Value: []byte("v")}, {Ref: &ready}, {Ref: &stored}})
	if err != nil {
		t.Fatal(err)
	}
	if string(vals[0].V) != "v" || string(vals[1].V) != "ready" || vals[2].Loc != loc || vals[2].ID != stored.ID {
		t.Fatalf("resolved = %+v", vals)
	}

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name    string
		ctx     context.Context
		args    []TaskArg
		cause   error
		message string
	}{
		{"failed dependency", context.Background(), []TaskArg{{Ref: &ready}, {Ref: &failed}}, errs.ErrWorkerCrashed, "worker died"},
		{"freed object", context.Background(), []TaskArg{{Ref: &gone}}, errs.ErrObjectLost, "argument 0"},
		{"cancelled wait", cancelled, []TaskArg{{Value: []byte("v")}, {Ref: &pending}}, errs.ErrTaskFailed, "argument 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := rt.resolveForCall(tc.ctx, tc.args)
			if err == nil {
				t.Fatal("resolved")
			}
			w := argFailure("f", "task1", err)
			got := w.Err()
			if !errors.Is(got, tc.cause) || !strings.Contains(got.Error(), tc.message) {
				t.Fatalf("failure = %v; want %v mentioning %q", got, tc.cause, tc.message)
			}
		})
	}
}

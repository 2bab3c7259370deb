package core

import (
	"context"
	"reflect"
	"testing"

	"github.com/rayo-dev/rayo/internal/protocol"
)

// counts is one object's entry in the reference table.
type counts struct{ local, submitted, contained, borrowers int }

// refState is what a step expects of one object: its counts, whether the
// table has an entry, and whether the owner still holds its value.
type refState struct {
	counts
	entry bool
	held  bool // owned objects: still in the memory store
}

func checkRef(t *testing.T, rt *Runtime, step, name string, r Ref, want refState) {
	t.Helper()
	l, s, c, b, ok := rt.RefCounts(r.ID)
	got := refState{counts: counts{l, s, c, b}, entry: ok, held: rt.store.get(r.ID) != nil}
	if r.Owner != rt.Addr() {
		got.held = want.held // a borrowed object's value is not kept here
	}
	if got != want {
		t.Fatalf("after %s: %s = %+v; want %+v", step, name, got, want)
	}
}

func putInline(t *testing.T, rt *Runtime, v string) Ref {
	t.Helper()
	r, err := rt.PutBytes(context.Background(), Encoded{Data: []byte(v)})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// The reference table's transitions, as Ray's reference_count tests:
// counts go up and down, an object is freed when every count is zero
// (and not before its task finished), an owned object lives while
// borrowers hold it, nested references go with their container, and a
// stored result's lineage keeps its arguments.
func TestRefTableTransitions(t *testing.T) {
	const other = "other:9" // another process, owner of borrowed refs
	type step struct {
		name string
		do   func(rt *Runtime, r map[string]Ref)
		want map[string]refState
	}
	held := func(l, s, c, b int) refState { return refState{counts{l, s, c, b}, true, true} }
	freed := refState{}
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, rt *Runtime) map[string]Ref
		steps []step
	}{
		{
			name:  "local counts",
			setup: func(t *testing.T, rt *Runtime) map[string]Ref { return map[string]Ref{"a": putInline(t, rt, "a")} },
			steps: []step{
				{"two refs", func(rt *Runtime, r map[string]Ref) { rt.AddLocal(r["a"]); rt.AddLocal(r["a"]) }, map[string]refState{"a": held(2, 0, 0, 0)}},
				{"one dropped", func(rt *Runtime, r map[string]Ref) { rt.RemoveLocal(r["a"]) }, map[string]refState{"a": held(1, 0, 0, 0)}},
				{"last dropped", func(rt *Runtime, r map[string]Ref) { rt.RemoveLocal(r["a"]) }, map[string]refState{"a": freed}},
				{"extra remove", func(rt *Runtime, r map[string]Ref) { rt.RemoveLocal(r["a"]) }, map[string]refState{"a": freed}},
			},
		},
		{
			name:  "submitted tasks keep arguments",
			setup: func(t *testing.T, rt *Runtime) map[string]Ref { return map[string]Ref{"a": putInline(t, rt, "a")} },
			steps: []step{
				{"ref and two tasks", func(rt *Runtime, r map[string]Ref) {
					rt.AddLocal(r["a"])
					rt.addSubmitted([]Ref{r["a"], r["a"]})
				}, map[string]refState{"a": held(1, 2, 0, 0)}},
				{"ref dropped", func(rt *Runtime, r map[string]Ref) { rt.RemoveLocal(r["a"]) }, map[string]refState{"a": held(0, 2, 0, 0)}},
				{"one task done", func(rt *Runtime, r map[string]Ref) { rt.removeSubmitted([]Ref{r["a"]}) }, map[string]refState{"a": held(0, 1, 0, 0)}},
				{"last task done", func(rt *Runtime, r map[string]Ref) { rt.removeSubmitted([]Ref{r["a"]}) }, map[string]refState{"a": freed}},
			},
		},
		{
			name: "pending object freed when its task finishes",
			setup: func(t *testing.T, rt *Runtime) map[string]Ref {
				p := Ref{ID: rt.nextID(), Owner: rt.Addr()}
				rt.store.create(p.ID)
				return map[string]Ref{"p": p}
			},
			steps: []step{
				{"ref", func(rt *Runtime, r map[string]Ref) { rt.AddLocal(r["p"]) }, map[string]refState{"p": held(1, 0, 0, 0)}},
				{"dropped while pending", func(rt *Runtime, r map[string]Ref) { rt.RemoveLocal(r["p"]) }, map[string]refState{"p": held(0, 0, 0, 0)}},
				{"task done", func(rt *Runtime, r map[string]Ref) {
					rt.store.get(r["p"].ID).complete([]byte("v"), nil)
					rt.objectDone(r["p"].ID)
				}, map[string]refState{"p": freed}},
			},
		},
		{
			name: "contained references go with their container",
			setup: func(t *testing.T, rt *Runtime) map[string]Ref {
				return map[string]Ref{"in": putInline(t, rt, "in"), "out": putInline(t, rt, "out")}
			},
			steps: []step{
				{"nested", func(rt *Runtime, r map[string]Ref) {
					rt.AddLocal(r["in"])
					rt.AddLocal(r["out"])
					rt.setContains(r["out"].ID, []Ref{r["in"]}, false)
				}, map[string]refState{"in": held(1, 0, 1, 0), "out": held(1, 0, 0, 0)}},
				{"inner ref dropped", func(rt *Runtime, r map[string]Ref) { rt.RemoveLocal(r["in"]) }, map[string]refState{"in": held(0, 0, 1, 0), "out": held(1, 0, 0, 0)}},
				{"container dropped", func(rt *Runtime, r map[string]Ref) { rt.RemoveLocal(r["out"]) }, map[string]refState{"in": freed, "out": freed}},
			},
		},
		{
			name:  "borrowers keep an owned object",
			setup: func(t *testing.T, rt *Runtime) map[string]Ref { return map[string]Ref{"a": putInline(t, rt, "a")} },
			steps: []step{
				{"ref and two borrowers", func(rt *Runtime, r map[string]Ref) {
					rt.AddLocal(r["a"])
					rt.registerBorrowers(nil, []string{r["a"].ID}, "b1:1", false)
					rt.registerBorrowers(nil, []string{r["a"].ID}, "b2:1", false)
					rt.registerBorrowers(nil, []string{r["a"].ID}, "b2:1", false) // once per borrower
				}, map[string]refState{"a": held(1, 0, 0, 2)}},
				{"owner's ref dropped", func(rt *Runtime, r map[string]Ref) { rt.RemoveLocal(r["a"]) }, map[string]refState{"a": held(0, 0, 0, 2)}},
				{"one borrower left", func(rt *Runtime, r map[string]Ref) {
					_, _ = rt.serveRemoveBorrower(context.Background(), &protocol.BorrowRequest{ObjectIDs: []string{r["a"].ID}, Borrower: "b1:1"})
				}, map[string]refState{"a": held(0, 0, 0, 1)}},
				{"last borrower left", func(rt *Runtime, r map[string]Ref) {
					_, _ = rt.serveRemoveBorrower(context.Background(), &protocol.BorrowRequest{ObjectIDs: []string{r["a"].ID}, Borrower: "b2:1"})
				}, map[string]refState{"a": freed}},
				{"late borrower of a freed object", func(rt *Runtime, r map[string]Ref) {
					rt.registerBorrowers(nil, []string{r["a"].ID}, "b3:1", false)
				}, map[string]refState{"a": freed}},
			},
		},
		{
			name: "borrowed refs",
			setup: func(t *testing.T, rt *Runtime) map[string]Ref {
				return map[string]Ref{"b": {ID: "borrowed1", Owner: other}}
			},
			steps: []step{
				{"two refs", func(rt *Runtime, r map[string]Ref) { rt.AddLocal(r["b"]); rt.AddLocal(r["b"]) }, map[string]refState{"b": {counts{2, 0, 0, 0}, true, false}}},
				{"one dropped", func(rt *Runtime, r map[string]Ref) { rt.RemoveLocal(r["b"]) }, map[string]refState{"b": {counts{1, 0, 0, 0}, true, false}}},
				{"last dropped", func(rt *Runtime, r map[string]Ref) { rt.RemoveLocal(r["b"]) }, map[string]refState{"b": freed}},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := newTestRuntime(t, newFakeCluster())
			r := tc.setup(t, rt)
			for _, st := range tc.steps {
				st.do(rt, r)
				for name, want := range st.want {
					checkRef(t, rt, st.name, name, r[name], want)
				}
			}
		})
	}
}

// A borrower registers with the owner once, on its first reference, and
// deregisters after its last, in that order (the borrow messages queue).
func TestBorrowMessages(t *testing.T) {
	rt := newTestRuntime(t, newFakeCluster())
	b := Ref{ID: "borrowed1", Owner: "other:9"}
	nested := Ref{ID: "borrowed2", Owner: "other:9"}
	adopted := Ref{ID: "borrowed3", Owner: "third:9"}
	outer := putInline(t, rt, "outer")
	rt.AddLocal(b)
	rt.AddLocal(b)
	rt.AddLocal(outer)
	rt.setContains(outer.ID, []Ref{nested}, false)
	rt.setContains(outer.ID, []Ref{adopted}, true) // the worker registered it for us
	rt.RemoveLocal(b)
	rt.RemoveLocal(b)
	rt.RemoveLocal(outer)
	rt.refs.mu.Lock()
	msgs := rt.refs.out
	pending := rt.refs.pending
	rt.refs.mu.Unlock()
	type msg struct {
		owner  string
		ids    []string
		remove bool
	}
	var got []msg
	for _, m := range msgs {
		got = append(got, msg{m.owner, m.ids, m.remove})
	}
	want := []msg{
		{"other:9", []string{"borrowed1", "borrowed2"}, false}, // registered before the first removal
		{"other:9", []string{"borrowed1"}, true},
		{"other:9", []string{"borrowed2"}, true}, // the container's, in order
		{"third:9", []string{"borrowed3"}, true},
	}
	if !reflect.DeepEqual(got, want) || len(pending) != 0 {
		t.Fatalf("borrow messages = %+v (pending %v); want %+v", got, pending, want)
	}
}

// A stored result's lineage keeps the references its task's arguments
// hold, so that the task can run again; they go when the result does. A
// task with MaxRetries 0 keeps none.
func TestLineagePinsArguments(t *testing.T) {
	for _, tc := range []struct {
		name       string
		maxRetries int
		pinned     bool
	}{
		{"with retries", 3, true},
		{"opted out", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := newTestRuntime(t, newFakeCluster())
			rt.node = startFakeNodeServer(t, &fakeNodeServer{}) // a freed stored result is deleted there
			arg := putInline(t, rt, "arg")
			rt.AddLocal(arg)
			res := Ref{ID: rt.nextID(), Owner: rt.Addr()}
			o := rt.store.create(res.ID)
			tk := &task{opts: SubmitOptions{MaxRetries: tc.maxRetries}, obj: o, refs: []Ref{arg}, retriesOut: tc.maxRetries,
				spec: protocol.TaskSpec{TaskID: res.ID, ReturnID: res.ID}}
			rt.addSubmitted(tk.refs)
			rt.AddLocal(res)
			o.completeArg(protocol.Arg{ID: res.ID, Loc: &protocol.ObjectLocation{Size: 1 << 20}})
			if got := rt.keepLineage(tk); got != tc.pinned {
				t.Fatalf("keepLineage = %v", got)
			}
			if !tc.pinned {
				rt.removeSubmitted(tk.refs) // forget releases them instead
			}
			rt.RemoveLocal(arg)
			want := freedIf(!tc.pinned, refState{counts{0, 1, 0, 0}, true, true})
			checkRef(t, rt, "the argument's ref dropped", "arg", arg, want)
			rt.RemoveLocal(res)
			checkRef(t, rt, "the result freed", "arg", arg, refState{})
			checkRef(t, rt, "the result freed", "result", res, refState{})
			if rt.ownsLineage(res.ID) {
				t.Fatal("lineage kept after the result was freed")
			}
		})
	}
}

func freedIf(freed bool, s refState) refState {
	if freed {
		return refState{}
	}
	return s
}

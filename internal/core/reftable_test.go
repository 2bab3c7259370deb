package core

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/rayo-dev/rayo/internal/rpc"
)

// The reference table alone (no Runtime, no network), in the manner of
// Ray's reference_count_test: each row is a sequence of transitions, and
// after each step the counts of the objects named, the effects returned
// and the borrow messages queued are what the row expects.

const (
	me    = "me:1"    // this process: owner of what it owns
	other = "other:9" // another process, owner of borrowed refs
)

// fakeRefEnv is the process the table asks: its address, and which owned
// objects are still pending.
type fakeRefEnv struct{ pending map[string]bool }

func (fakeRefEnv) Addr() string                   { return me }
func (f fakeRefEnv) objectPending(id string) bool { return f.pending[id] }

func own(id string) Ref    { return Ref{ID: id, Owner: me} }
func borrow(id string) Ref { return Ref{ID: id, Owner: other} }

// absent: the table has no entry for the object.
var absent = &counts{-1, -1, -1, -1}

func cnt(l, s, c, b int) *counts { return &counts{l, s, c, b} }

// msg is a queued borrow message, as the test compares it.
type msg struct {
	owner  string
	ids    string // joined
	remove bool
}

type tstep struct {
	name string
	do   func(t *refTable, env fakeRefEnv, effs []refEffect) []refEffect
	want map[string]*counts
	effs []refEffect
	msgs []msg // queued by this step
}

func freed(id string) refEffect      { return refEffect{effFreed, id} }
func unborrowed(id string) refEffect { return refEffect{effBorrowEnded, id} }
func collect(id string) refEffect    { return refEffect{effCollect, id} }

func addLocal(r Ref) func(*refTable, fakeRefEnv, []refEffect) []refEffect {
	return func(t *refTable, env fakeRefEnv, effs []refEffect) []refEffect { t.addLocal(env, r); return effs }
}

func removeLocal(r Ref) func(*refTable, fakeRefEnv, []refEffect) []refEffect {
	return func(t *refTable, env fakeRefEnv, effs []refEffect) []refEffect { return t.removeLocal(env, r, effs) }
}

func TestRefTableTable(t *testing.T) {
	peer := &rpc.Peer{}
	for _, row := range []struct {
		name    string
		pending []string // owned objects whose tasks have not finished
		steps   []tstep
	}{
		{name: "local counts", steps: []tstep{
			{"two refs", func(t *refTable, env fakeRefEnv, effs []refEffect) []refEffect {
				t.addLocal(env, own("a"))
				t.addLocal(env, own("a"))
				return effs
			}, map[string]*counts{"a": cnt(2, 0, 0, 0)}, nil, nil},
			{"one dropped", removeLocal(own("a")), map[string]*counts{"a": cnt(1, 0, 0, 0)}, nil, nil},
			{"last dropped", removeLocal(own("a")), map[string]*counts{"a": absent}, []refEffect{freed("a")}, nil},
			{"extra remove", removeLocal(own("a")), map[string]*counts{"a": absent}, nil, nil},
		}},
		{name: "submitted tasks keep arguments", steps: []tstep{
			{"ref and two tasks", func(t *refTable, env fakeRefEnv, effs []refEffect) []refEffect {
				t.addLocal(env, own("a"))
				t.addSubmitted([]Ref{own("a"), own("a")})
				return effs
			}, map[string]*counts{"a": cnt(1, 2, 0, 0)}, nil, nil},
			{"ref dropped", removeLocal(own("a")), map[string]*counts{"a": cnt(0, 2, 0, 0)}, nil, nil},
			{"one task done", func(t *refTable, env fakeRefEnv, effs []refEffect) []refEffect {
				return t.removeSubmitted(env, []Ref{own("a")}, effs)
			}, map[string]*counts{"a": cnt(0, 1, 0, 0)}, nil, nil},
			{"last task done, and an extra", func(t *refTable, env fakeRefEnv, effs []refEffect) []refEffect {
				return t.removeSubmitted(env, []Ref{own("a"), own("a")}, effs)
			}, map[string]*counts{"a": absent}, []refEffect{freed("a")}, nil},
		}},
		{name: "pending object freed when its task finishes", pending: []string{"p"}, steps: []tstep{
			{"ref", addLocal(own("p")), map[string]*counts{"p": cnt(1, 0, 0, 0)}, nil, nil},
			{"dropped while pending", removeLocal(own("p")), map[string]*counts{"p": cnt(0, 0, 0, 0)}, nil, nil},
			{"task done", func(t *refTable, env fakeRefEnv, effs []refEffect) []refEffect {
				delete(env.pending, "p")
				return t.maybeFree(env, "p", effs)
			}, map[string]*counts{"p": absent}, []refEffect{freed("p")}, nil},
		}},
		{name: "nested references go with their container, depth first", steps: []tstep{
			{"out holds mid holds in", func(t *refTable, env fakeRefEnv, effs []refEffect) []refEffect {
				t.addLocal(env, own("out"))
				t.addLocal(env, own("in"))
				t.setContains(env, "out", []Ref{own("mid")}, false)
				t.setContains(env, "mid", []Ref{own("in")}, false)
				return effs
			}, map[string]*counts{"out": cnt(1, 0, 0, 0), "mid": cnt(0, 0, 1, 0), "in": cnt(1, 0, 1, 0)}, nil, nil},
			{"inner ref dropped", removeLocal(own("in")), map[string]*counts{"in": cnt(0, 0, 1, 0)}, nil, nil},
			{"container dropped", removeLocal(own("out")), map[string]*counts{"out": absent, "mid": absent, "in": absent},
				[]refEffect{freed("out"), freed("mid"), freed("in")}, nil},
		}},
		{name: "borrowers keep an owned object", steps: []tstep{
			{"ref and two borrowers", func(t *refTable, env fakeRefEnv, effs []refEffect) []refEffect {
				t.addLocal(env, own("a"))
				for _, b := range []string{"b1:1", "b2:1", "b2:1"} { // once per borrower
					if !t.addBorrower(env, "a", b) {
						panic("addBorrower refused a live object")
					}
				}
				return effs
			}, map[string]*counts{"a": cnt(1, 0, 0, 2)}, nil, nil},
			{"owner's ref dropped", removeLocal(own("a")), map[string]*counts{"a": cnt(0, 0, 0, 2)}, nil, nil},
			{"one borrower left, and an unknown one", func(t *refTable, env fakeRefEnv, effs []refEffect) []refEffect {
				effs = t.removeBorrower(env, "a", "b1:1", effs)
				return t.removeBorrower(env, "a", "nobody:1", effs)
			}, map[string]*counts{"a": cnt(0, 0, 0, 1)}, nil, nil},
			{"last borrower left", func(t *refTable, env fakeRefEnv, effs []refEffect) []refEffect {
				return t.removeBorrower(env, "a", "b2:1", effs)
			}, map[string]*counts{"a": absent}, []refEffect{freed("a")}, nil},
			{"late borrower of a freed object", func(t *refTable, env fakeRefEnv, effs []refEffect) []refEffect {
				if t.addBorrower(env, "a", "b3:1") {
					panic("addBorrower took a freed object")
				}
				return effs
			}, map[string]*counts{"a": absent}, nil, nil},
		}},
		{name: "last borrower gone with local refs left: collect", steps: []tstep{
			{"ref and borrower", func(t *refTable, env fakeRefEnv, effs []refEffect) []refEffect {
				t.addLocal(env, own("a"))
				t.addBorrower(env, "a", "b1:1")
				return effs
			}, map[string]*counts{"a": cnt(1, 0, 0, 1)}, nil, nil},
			{"borrower left", func(t *refTable, env fakeRefEnv, effs []refEffect) []refEffect {
				return t.removeBorrower(env, "a", "b1:1", effs)
			}, map[string]*counts{"a": cnt(1, 0, 0, 0)}, []refEffect{collect("a")}, nil},
		}},
		{name: "a borrower's connection closes", steps: []tstep{
			{"two borrowed over one connection", func(t *refTable, env fakeRefEnv, effs []refEffect) []refEffect {
				t.addLocal(env, own("a"))
				t.addLocal(env, own("b"))
				t.addBorrower(env, "a", "b1:1")
				t.addBorrower(env, "b", "b1:1")
				t.removeLocal(env, own("a"), nil) // only the borrower holds a then
				if !t.addPeerBorrow(peer, "a", "b1:1") || t.addPeerBorrow(peer, "b", "b1:1") {
					panic("addPeerBorrow: only the connection's first borrow is first")
				}
				return effs
			}, map[string]*counts{"a": cnt(0, 0, 0, 1), "b": cnt(1, 0, 0, 1)}, nil, nil},
			{"connection closed", func(t *refTable, env fakeRefEnv, effs []refEffect) []refEffect {
				effs = t.peerGone(env, peer, effs)
				if len(t.byPeer) != 0 {
					panic("peerGone kept the connection's borrows")
				}
				return sortEffects(effs) // a map's order
			}, map[string]*counts{"a": absent, "b": cnt(1, 0, 0, 0)}, []refEffect{freed("a"), collect("b")}, nil},
		}},
		{name: "borrowed refs register once, deregister after the last", steps: []tstep{
			{"two refs", func(t *refTable, env fakeRefEnv, effs []refEffect) []refEffect {
				t.addLocal(env, borrow("x"))
				t.addLocal(env, borrow("x"))
				if len(t.pending) != 1 {
					panic(fmt.Sprintf("pending registrations %v; want one", t.pending))
				}
				return effs
			}, map[string]*counts{"x": cnt(2, 0, 0, 0)}, nil, nil},
			{"one dropped", removeLocal(borrow("x")), map[string]*counts{"x": cnt(1, 0, 0, 0)}, nil, nil},
			{"last dropped", removeLocal(borrow("x")), map[string]*counts{"x": absent}, []refEffect{unborrowed("x")},
				[]msg{{other, "x", false}, {other, "x", true}}},
		}},
		{name: "a borrowed argument never held locally is not registered", steps: []tstep{
			{"submitted", func(t *refTable, env fakeRefEnv, effs []refEffect) []refEffect {
				t.addSubmitted([]Ref{borrow("x")})
				return effs
			}, map[string]*counts{"x": cnt(0, 1, 0, 0)}, nil, nil},
			{"task done", func(t *refTable, env fakeRefEnv, effs []refEffect) []refEffect {
				return t.removeSubmitted(env, []Ref{borrow("x")}, effs)
			}, map[string]*counts{"x": absent}, []refEffect{unborrowed("x")}, nil},
		}},
		{name: "borrowed refs nested in an owned object", steps: []tstep{
			{"nested, one adopted", func(t *refTable, env fakeRefEnv, effs []refEffect) []refEffect {
				t.addLocal(env, own("out"))
				t.setContains(env, "out", []Ref{borrow("n1"), {ID: "n2", Owner: "third:9"}}, false)
				t.setContains(env, "out", []Ref{borrow("n3")}, true) // the worker registered it for us
				return effs
			}, map[string]*counts{"n1": cnt(0, 0, 1, 0), "n2": cnt(0, 0, 1, 0), "n3": cnt(0, 0, 1, 0)}, nil, nil},
			{"container dropped", removeLocal(own("out")), map[string]*counts{"out": absent, "n1": absent, "n2": absent, "n3": absent},
				[]refEffect{freed("out"), unborrowed("n1"), unborrowed("n2"), unborrowed("n3")},
				// Registered (per owner, in order seen) before the first removal.
				[]msg{{other, "n1", false}, {"third:9", "n2", false}, {other, "n1", true}, {"third:9", "n2", true}, {other, "n3", true}}},
		}},
	} {
		t.Run(row.name, func(t *testing.T) {
			tab := newRefTable()
			env := fakeRefEnv{pending: map[string]bool{}}
			for _, id := range row.pending {
				env.pending[id] = true
			}
			for _, st := range row.steps {
				sent := len(tab.out)
				effs := st.do(tab, env, nil)
				if !reflect.DeepEqual(effs, st.effs) {
					t.Fatalf("%s: effects %v; want %v", st.name, effs, st.effs)
				}
				var msgs []msg
				for _, m := range tab.out[sent:] {
					msgs = append(msgs, msg{m.owner, fmt.Sprint(m.ids), m.remove})
				}
				for i := range st.msgs {
					st.msgs[i].ids = fmt.Sprint([]string{st.msgs[i].ids})
				}
				if !reflect.DeepEqual(msgs, st.msgs) {
					t.Fatalf("%s: borrow messages %v; want %v", st.name, msgs, st.msgs)
				}
				if int64(len(tab.out)) != tab.queued {
					t.Fatalf("%s: %d messages queued, counted %d", st.name, len(tab.out), tab.queued)
				}
				for id, want := range st.want {
					l, s, c, b, ok := tab.counts(id)
					got := &counts{l, s, c, b}
					if !ok {
						got = absent
					}
					if *got != *want {
						t.Fatalf("%s: %s counts %+v; want %+v", st.name, id, *got, *want)
					}
				}
			}
		})
	}
}

func sortEffects(effs []refEffect) []refEffect {
	for i := range effs {
		for j := i + 1; j < len(effs); j++ {
			if effs[j].id < effs[i].id {
				effs[i], effs[j] = effs[j], effs[i]
			}
		}
	}
	return effs
}

// The transitions every task and every ObjectRef makes allocate nothing
// when they free nothing (the table's methods, and the Runtime's).
func TestRefTableHotPathAllocs(t *testing.T) {
	tab := newRefTable()
	env := fakeRefEnv{}
	args := []Ref{own("a"), borrow("x")}
	tab.addLocal(env, own("a"))
	tab.addLocal(env, borrow("x"))
	if n := testing.AllocsPerRun(100, func() {
		tab.addLocal(env, own("a"))
		tab.addSubmitted(args)
		if effs := tab.removeSubmitted(env, args, nil); effs != nil {
			panic("freed")
		}
		if effs := tab.removeLocal(env, own("a"), nil); effs != nil {
			panic("freed")
		}
	}); n != 0 {
		t.Fatalf("table transitions: %v allocations; want 0", n)
	}

	rt := newTestRuntime(t, newFakeCluster())
	r := putInline(t, rt, "a")
	rt.AddLocal(r)
	refs := []Ref{r}
	if n := testing.AllocsPerRun(100, func() {
		rt.AddLocal(r)
		rt.addSubmitted(refs)
		rt.removeSubmitted(refs)
		rt.RemoveLocal(r)
	}); n != 0 {
		t.Fatalf("Runtime transitions: %v allocations; want 0", n)
	}
}

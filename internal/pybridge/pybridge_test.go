package pybridge

import (
	"errors"
	"strconv"
	"testing"

	"github.com/rayo-dev/rayo/internal/errs"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
	"github.com/rayo-dev/rayo/internal/sched"
)

// A submit may name only a task ID reserved for its connection, once.
func TestIDBlocksTakeEachReservedIDOnce(t *testing.T) {
	var b idBlocks
	b.add("p1-", 10, 3)
	b.add("p1-", 100, 2)
	id := func(n uint64) string { return "p1-" + strconv.FormatUint(n, 36) }
	for _, tc := range []struct {
		id   string
		want bool
	}{
		{id(10), true},
		{id(10), false}, // used
		{id(12), true},
		{id(13), false}, // past the block
		{id(9), false},  // before it
		{id(101), true},
		{"p2-" + strconv.FormatUint(11, 36), false}, // another prefix
		{"p1-!!", false}, // not base 36
		{"", false},
		{id(11), true},
		{id(100), true},
	} {
		if got := b.take(tc.id); got != tc.want {
			t.Errorf("take(%q) = %v, want %v", tc.id, got, tc.want)
		}
	}
	if len(b.blocks) != 0 {
		t.Fatalf("%d blocks left after every ID was used", len(b.blocks))
	}
}

func TestPythonClassNames(t *testing.T) {
	for _, tc := range []struct {
		class, id, name string
		ok              bool
	}{
		{"rayo.py/abc123/Counter", "abc123", "Counter", true},
		{"rayo.py/name:mod.Counter/Counter", "name:mod.Counter", "Counter", true},
		{"calc.Accumulator", "", "calc.Accumulator", false},
	} {
		id, ok := PythonClass(tc.class)
		if id != tc.id || ok != tc.ok || className(tc.class) != tc.name {
			t.Errorf("%q: PythonClass = %q, %v; className = %q", tc.class, id, ok, className(tc.class))
		}
	}
	if !IsPythonTask("rayo.py/abc") || IsPythonTask("calc.add") {
		t.Fatal("IsPythonTask")
	}
}

// The Python child reaches the cluster only through its Go worker: the
// cluster's token and TLS identity stay out of its environment.
func TestChildEnvDropsSecrets(t *testing.T) {
	got := childEnv([]string{"PATH=/bin", "RAYO_TOKEN=secret", "RAYO_TLS_KEY_PEM=key", "RAYO_TLS_CERT_PEM=c", "RAYO_NODE_ID=n", "PYTHONPATH=/x"})
	want := []string{"PATH=/bin", "RAYO_NODE_ID=n", "PYTHONPATH=/x"}
	if len(got) != len(want) {
		t.Fatalf("childEnv = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("childEnv = %v, want %v", got, want)
		}
	}
}

func TestPlacement(t *testing.T) {
	res, st, err := placement(map[string]float64{"CPU": 1}, &wireStrategy{PG: "pg1", Bundle: 0})
	if err != nil {
		t.Fatal(err)
	}
	if res[protocol.BundleResourceName("CPU", "pg1", 0)] != sched.Unit || st.Kind != sched.StrategyDefault {
		t.Fatalf("placement group bundle 0: %v %+v", res, st)
	}
	if _, st, err = placement(nil, &wireStrategy{Kind: "NODE_AFFINITY", NodeID: "n1", Soft: true, Bundle: -1}); err != nil ||
		st.Kind != sched.StrategyNodeAffinity || st.NodeID != "n1" || !st.Soft {
		t.Fatalf("node affinity: %+v, %v", st, err)
	}
	for _, bad := range []*wireStrategy{
		{Kind: "NODE_AFFINITY", Bundle: -1},
		{Kind: "NOPE", Bundle: -1},
		{PG: "pg1", Bundle: -2},
		{Labels: "zone in (", Bundle: -1},
	} {
		if _, _, err := placement(nil, bad); !errors.Is(err, errs.ErrInvalidOption) {
			t.Errorf("placement(%+v) = %v, want ErrInvalidOption", bad, err)
		}
	}
	if _, _, err := placement(map[string]float64{"CPU": -1}, nil); !errors.Is(err, errs.ErrInvalidOption) {
		t.Errorf("negative CPU: %v, want ErrInvalidOption", err)
	}
}

// Errors reach Python with the code of their sentinel, which its
// exceptions.from_wire maps to Ray's classes.
func TestWireErrorCodes(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code string
	}{
		{errs.ErrGetTimeout, protocol.CodeGetTimeout},
		{errs.ErrInvalidOption, protocol.CodeInvalidOption},
		{errs.ErrObjectLost, protocol.CodeObjectLost},
		{errs.NotRegistered("x"), protocol.CodeBadCall},
		{errors.New("other"), protocol.CodeTaskFailed},
	} {
		var we *rpc.Error
		if !errors.As(wireError(tc.err), &we) || we.Code != tc.code {
			t.Errorf("wireError(%v) = %v, want code %s", tc.err, we, tc.code)
		}
	}
	te := errs.NewTaskError("f", "t1", errs.ErrTaskFailed, errors.New("boom"), "stack", false)
	te.Data = []byte("pickled")
	if w := failure(te); w.Code != protocol.CodeTaskFailed || string(w.Data) != "pickled" || w.Stack != "stack" {
		t.Errorf("failure(TaskError) = %+v", w)
	}
}

// Large stored arguments go to the Python worker by reference; small and
// inline ones, and those without an owner, by value.
func TestByRef(t *testing.T) {
	big := make([]byte, argRefMin)
	small := []byte("x")
	loc := &protocol.ObjectLocation{NodeID: "n", Size: int64(len(big)), Owner: "owner:1"}
	msg := byRef(taskMsg{Args: [][]byte{small, big, big, big}}, []protocol.Arg{
		{V: small},
		{ID: "o1", Loc: loc},
		{ID: "o2", Loc: &protocol.ObjectLocation{NodeID: "n", Size: int64(len(big))}}, // no owner
		{V: big}, // inline
	})
	if msg.Args[1] != nil || msg.Refs[1] == nil || *msg.Refs[1] != (wireRef{"o1", "owner:1"}) {
		t.Fatalf("the large stored argument: %v %v", msg.Args[1] == nil, msg.Refs[1])
	}
	for _, i := range []int{0, 2, 3} {
		if msg.Args[i] == nil || msg.Refs[i] != nil {
			t.Errorf("argument %d went by reference", i)
		}
	}
	if none := byRef(taskMsg{Args: [][]byte{small}}, []protocol.Arg{{V: small}}); none.Refs != nil {
		t.Error("Refs set with nothing by reference")
	}
}

package protocol

import (
	"reflect"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/rayo-dev/rayo/internal/sched"
)

// The hand-written forms round-trip every field, nil and empty ones too.
func TestHandWrittenCodecsRoundTrip(t *testing.T) {
	loc := &ObjectLocation{NodeID: "n", NodeAddr: "a:1", Size: 7, Owner: "o:2"}
	cases := []any{
		&TaskSpec{TaskID: "t", JobID: "j", Name: "f", Display: "g", ReturnID: "t", OwnerAddr: "o:1",
			Args:      []Arg{{V: []byte{1, 2}}, {ID: "x", Loc: loc}, {}},
			Resources: sched.Resources{"CPU": sched.Unit, "GPU": 500}, Attempt: 3, GPUIDs: []int{0, 2}, NumReturns: 4, Depth: 2},
		&TaskSpec{TaskID: "t2"},
		&ActorCallRequest{ActorID: "a", Incarnation: 2, TaskID: "t", Method: "M", Args: []Arg{{V: []byte("v")}}, OwnerAddr: "o"},
		&TaskEvent{TaskID: "t", Attempt: 1, Name: "f", Type: TaskTypeNormal, JobID: "j", ActorID: "a", State: TaskFailed,
			TimeUs: 12, StartUs: 10, NodeID: "n", WorkerID: "w", WorkerPid: 42, ErrorType: "e", ErrorMsg: "m", Stack: "s"},
		&PushTaskReply{Value: []byte("v"), Nested: []NestedRef{{ID: "n", Owner: "o"}}},
		&PushTaskReply{Loc: loc, Returns: []ReturnValue{{Value: []byte("a")}, {Loc: loc}}},
		&TaskEventsRequest{Events: []TaskEvent{{TaskID: "a"}, {TaskID: "b", State: TaskRunning}}, Dropped: 3},
	}
	for _, in := range cases {
		b, err := msgpack.Marshal(in)
		if err != nil {
			t.Fatalf("%T: %v", in, err)
		}
		out := reflect.New(reflect.TypeOf(in).Elem()).Interface()
		if err := msgpack.Unmarshal(b, out); err != nil {
			t.Fatalf("%T: %v", in, err)
		}
		if !reflect.DeepEqual(in, out) {
			t.Errorf("%T: round trip\n got %+v\nwant %+v", in, out, in)
		}
	}
	// Garbage is an error, not a panic.
	var ts TaskSpec
	if err := msgpack.Unmarshal([]byte{0x93, 0x01, 0xc1}, &ts); err == nil {
		t.Error("a malformed TaskSpec decoded")
	}
}

// A length on the wire reserves no memory beyond the elements that come.
func TestDecodersDoNotTrustLengths(t *testing.T) {
	// A TaskSpec whose args claim 4 billion elements, then end.
	b := []byte{0x9b, 0xa0, 0xa0, 0xa0, 0xa0, 0xdd, 0xff, 0xff, 0xff, 0xff}
	var ts TaskSpec
	allocs := testing.AllocsPerRun(1, func() { _ = msgpack.Unmarshal(b, &ts) })
	if err := msgpack.Unmarshal(b, &ts); err == nil {
		t.Fatal("a truncated TaskSpec decoded")
	}
	if allocs > 50 {
		t.Errorf("%v allocations for a 10-byte input", allocs)
	}
}

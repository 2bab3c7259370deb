package protocol

import (
	"reflect"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// The stream mark survives the hand-written forms, Skip 0 included (it is
// not the same as no stream).
func TestStreamSpecRoundTrip(t *testing.T) {
	cases := []any{
		&TaskSpec{TaskID: "t", Stream: &StreamSpec{}},
		&TaskSpec{TaskID: "t", Stream: &StreamSpec{Skip: 7}},
		&TaskSpec{TaskID: "t", Stream: &StreamSpec{Skip: 3, ItemBase: "base-task"}},
		&ActorCallRequest{ActorID: "a", TaskID: "t", Stream: &StreamSpec{}},
		&ActorCallRequest{ActorID: "a", TaskID: "t", Stream: &StreamSpec{Skip: 2}},
		&StreamItemRequest{TaskID: "t", Index: 3, Attempt: 2, Value: []byte("v"), Nested: []NestedRef{{ID: "n", Owner: "o"}}},
		&StreamItemReply{Stop: true},
		&StreamEnd{Items: 5},
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
	if StreamItemID("t", 0) == "t" || StreamItemID("t", 0) == StreamItemID("t", 1) {
		t.Errorf("item IDs collide: %q %q", StreamItemID("t", 0), StreamItemID("t", 1))
	}
}

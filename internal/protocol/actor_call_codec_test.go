package protocol

import (
	"reflect"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// An actor call's Group and Name round-trip; without them the call keeps
// its six-field form (what an older peer reads).
func TestActorCallGroupAndNameRoundTrip(t *testing.T) {
	for _, in := range []*ActorCallRequest{
		{ActorID: "a", TaskID: "t", Method: "M", OwnerAddr: "o", Group: "io"},
		{ActorID: "a", TaskID: "t", Method: "M", OwnerAddr: "o", Name: "shown"},
		{ActorID: "a", TaskID: "t", Method: "M", OwnerAddr: "o", Group: "g", Name: "n", Args: []Arg{{V: []byte("v")}}},
	} {
		b, err := msgpack.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		var out ActorCallRequest
		if err := msgpack.Unmarshal(b, &out); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(in, &out) {
			t.Errorf("round trip\n got %+v\nwant %+v", out, *in)
		}
	}
	b, err := msgpack.Marshal(&ActorCallRequest{ActorID: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != 0x96 {
		t.Errorf("a call without group or name starts %#x, want a 6-element array (0x96)", b[0])
	}
}

package protocol

import (
	"fmt"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/rayo-dev/rayo/internal/sched"
)

// Hand-written msgpack forms for the messages on the task and actor-call
// hot paths: arrays of fields in a fixed order, with no reflection and no
// field names on the wire (the reflection encoder cost a fifth of a
// driver's CPU when it submitted tasks at full speed). A decoder reads
// the fields it knows and skips any a newer peer appended.

// EncodeMsgpack writes an argument as [value, id, location].
func (a *Arg) EncodeMsgpack(enc *msgpack.Encoder) error {
	if err := enc.EncodeArrayLen(3); err != nil {
		return err
	}
	if err := enc.EncodeBytes(a.V); err != nil {
		return err
	}
	if err := enc.EncodeString(a.ID); err != nil {
		return err
	}
	return enc.Encode(a.Loc)
}

// DecodeMsgpack reads what EncodeMsgpack writes.
func (a *Arg) DecodeMsgpack(dec *msgpack.Decoder) error {
	n, err := dec.DecodeArrayLen()
	if err != nil {
		return err
	}
	return decodeFields(dec, n, "Arg", func(i int) error {
		var err error
		switch i {
		case 0:
			a.V, err = dec.DecodeBytes()
		case 1:
			a.ID, err = dec.DecodeString()
		case 2:
			a.Loc = nil
			err = dec.Decode(&a.Loc)
		default:
			err = dec.Skip()
		}
		return err
	})
}

// preallocLimit bounds what a decoder allocates ahead of the elements a
// length on the wire announces.
const preallocLimit = 1024

// decodeFields calls field for each of n array elements.
func decodeFields(dec *msgpack.Decoder, n int, what string, field func(i int) error) error {
	if n < 0 {
		return fmt.Errorf("protocol: a nil %s", what)
	}
	for i := 0; i < n; i++ {
		if err := field(i); err != nil {
			return fmt.Errorf("protocol: %s field %d: %w", what, i, err)
		}
	}
	return nil
}

func encodeArgs(enc *msgpack.Encoder, args []Arg) error {
	if err := enc.EncodeArrayLen(len(args)); err != nil {
		return err
	}
	for i := range args {
		if err := args[i].EncodeMsgpack(enc); err != nil {
			return err
		}
	}
	return nil
}

func decodeArgs(dec *msgpack.Decoder) ([]Arg, error) {
	n, err := dec.DecodeArrayLen()
	if err != nil || n <= 0 {
		return nil, err
	}
	// A length on the wire reserves only what its elements fill.
	args := make([]Arg, 0, min(n, preallocLimit))
	for i := 0; i < n; i++ {
		var a Arg
		if err := a.DecodeMsgpack(dec); err != nil {
			return nil, err
		}
		args = append(args, a)
	}
	return args, nil
}

func encodeResources(enc *msgpack.Encoder, r sched.Resources) error {
	if err := enc.EncodeMapLen(len(r)); err != nil {
		return err
	}
	for k, v := range r {
		if err := enc.EncodeString(k); err != nil {
			return err
		}
		if err := enc.EncodeInt(v); err != nil {
			return err
		}
	}
	return nil
}

func decodeResources(dec *msgpack.Decoder) (sched.Resources, error) {
	n, err := dec.DecodeMapLen()
	if err != nil || n <= 0 {
		return nil, err
	}
	r := make(sched.Resources, min(n, preallocLimit))
	for i := 0; i < n; i++ {
		k, err := dec.DecodeString()
		if err != nil {
			return nil, err
		}
		if r[k], err = dec.DecodeInt64(); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func encodeInts(enc *msgpack.Encoder, xs []int) error {
	if err := enc.EncodeArrayLen(len(xs)); err != nil {
		return err
	}
	for _, x := range xs {
		if err := enc.EncodeInt(int64(x)); err != nil {
			return err
		}
	}
	return nil
}

func decodeInts(dec *msgpack.Decoder) ([]int, error) {
	n, err := dec.DecodeArrayLen()
	if err != nil || n <= 0 {
		return nil, err
	}
	xs := make([]int, 0, min(n, preallocLimit))
	for i := 0; i < n; i++ {
		x, err := dec.DecodeInt()
		if err != nil {
			return nil, err
		}
		xs = append(xs, x)
	}
	return xs, nil
}

// taskSpecFields is how many fields a TaskSpec has on the wire.
const taskSpecFields = 13

// EncodeMsgpack writes a task spec as an array of its fields.
func (t *TaskSpec) EncodeMsgpack(enc *msgpack.Encoder) error {
	if err := enc.EncodeArrayLen(taskSpecFields); err != nil {
		return err
	}
	for _, s := range []string{t.TaskID, t.JobID, t.Name, t.Display} {
		if err := enc.EncodeString(s); err != nil {
			return err
		}
	}
	if err := encodeArgs(enc, t.Args); err != nil {
		return err
	}
	if err := enc.EncodeString(t.ReturnID); err != nil {
		return err
	}
	if err := enc.EncodeString(t.OwnerAddr); err != nil {
		return err
	}
	if err := encodeResources(enc, t.Resources); err != nil {
		return err
	}
	if err := enc.EncodeInt(int64(t.Attempt)); err != nil {
		return err
	}
	if err := encodeInts(enc, t.GPUIDs); err != nil {
		return err
	}
	if err := enc.EncodeInt(int64(t.NumReturns)); err != nil {
		return err
	}
	if err := enc.EncodeInt(int64(t.Depth)); err != nil {
		return err
	}
	return encodeStream(enc, t.Stream)
}

// DecodeMsgpack reads what EncodeMsgpack writes.
func (t *TaskSpec) DecodeMsgpack(dec *msgpack.Decoder) error {
	n, err := dec.DecodeArrayLen()
	if err != nil {
		return err
	}
	*t = TaskSpec{}
	return decodeFields(dec, n, "TaskSpec", func(i int) error {
		var err error
		switch i {
		case 0:
			t.TaskID, err = dec.DecodeString()
		case 1:
			t.JobID, err = dec.DecodeString()
		case 2:
			t.Name, err = dec.DecodeString()
		case 3:
			t.Display, err = dec.DecodeString()
		case 4:
			t.Args, err = decodeArgs(dec)
		case 5:
			t.ReturnID, err = dec.DecodeString()
		case 6:
			t.OwnerAddr, err = dec.DecodeString()
		case 7:
			t.Resources, err = decodeResources(dec)
		case 8:
			t.Attempt, err = dec.DecodeInt()
		case 9:
			t.GPUIDs, err = decodeInts(dec)
		case 10:
			t.NumReturns, err = dec.DecodeInt()
		case 11:
			t.Depth, err = dec.DecodeInt()
		case 12:
			t.Stream, err = decodeStream(dec)
		default:
			err = dec.Skip()
		}
		return err
	})
}

// EncodeMsgpack writes an actor call as an array of its fields; Group
// and Name (fields 6 and 7) only when one is set or the call streams
// (field 8), so that the common call stays six fields.
func (c *ActorCallRequest) EncodeMsgpack(enc *msgpack.Encoder) error {
	n := 6
	switch {
	case c.Stream != nil:
		n = 9
	case c.Group != "" || c.Name != "":
		n = 8
	}
	if err := enc.EncodeArrayLen(n); err != nil {
		return err
	}
	if err := enc.EncodeString(c.ActorID); err != nil {
		return err
	}
	if err := enc.EncodeInt(int64(c.Incarnation)); err != nil {
		return err
	}
	for _, s := range []string{c.TaskID, c.Method} {
		if err := enc.EncodeString(s); err != nil {
			return err
		}
	}
	if err := encodeArgs(enc, c.Args); err != nil {
		return err
	}
	if err := enc.EncodeString(c.OwnerAddr); err != nil || n == 6 {
		return err
	}
	if err := enc.EncodeString(c.Group); err != nil {
		return err
	}
	if err := enc.EncodeString(c.Name); err != nil || n == 8 {
		return err
	}
	return encodeStream(enc, c.Stream)
}

// DecodeMsgpack reads what EncodeMsgpack writes.
func (c *ActorCallRequest) DecodeMsgpack(dec *msgpack.Decoder) error {
	n, err := dec.DecodeArrayLen()
	if err != nil {
		return err
	}
	*c = ActorCallRequest{}
	return decodeFields(dec, n, "ActorCallRequest", func(i int) error {
		var err error
		switch i {
		case 0:
			c.ActorID, err = dec.DecodeString()
		case 1:
			c.Incarnation, err = dec.DecodeInt()
		case 2:
			c.TaskID, err = dec.DecodeString()
		case 3:
			c.Method, err = dec.DecodeString()
		case 4:
			c.Args, err = decodeArgs(dec)
		case 5:
			c.OwnerAddr, err = dec.DecodeString()
		case 6:
			c.Group, err = dec.DecodeString()
		case 7:
			c.Name, err = dec.DecodeString()
		case 8:
			c.Stream, err = decodeStream(dec)
		default:
			err = dec.Skip()
		}
		return err
	})
}

// taskEventStrings are a task event's string fields, in wire order.
func (e *TaskEvent) taskEventStrings() []*string {
	return []*string{&e.TaskID, &e.Name, &e.Type, &e.JobID, &e.ActorID, &e.State, &e.NodeID, &e.WorkerID,
		&e.ErrorType, &e.ErrorMsg, &e.Stack}
}

// EncodeMsgpack writes a task event as an array: its strings, then
// attempt, time, start time and worker pid.
func (e *TaskEvent) EncodeMsgpack(enc *msgpack.Encoder) error {
	strs := e.taskEventStrings()
	if err := enc.EncodeArrayLen(len(strs) + 4); err != nil {
		return err
	}
	for _, s := range strs {
		if err := enc.EncodeString(*s); err != nil {
			return err
		}
	}
	for _, v := range []int64{int64(e.Attempt), e.TimeUs, e.StartUs, int64(e.WorkerPid)} {
		if err := enc.EncodeInt(v); err != nil {
			return err
		}
	}
	return nil
}

// DecodeMsgpack reads what EncodeMsgpack writes.
func (e *TaskEvent) DecodeMsgpack(dec *msgpack.Decoder) error {
	n, err := dec.DecodeArrayLen()
	if err != nil {
		return err
	}
	*e = TaskEvent{}
	strs := e.taskEventStrings()
	return decodeFields(dec, n, "TaskEvent", func(i int) error {
		var err error
		switch {
		case i < len(strs):
			*strs[i], err = dec.DecodeString()
		case i == len(strs):
			e.Attempt, err = dec.DecodeInt()
		case i == len(strs)+1:
			e.TimeUs, err = dec.DecodeInt64()
		case i == len(strs)+2:
			e.StartUs, err = dec.DecodeInt64()
		case i == len(strs)+3:
			e.WorkerPid, err = dec.DecodeInt()
		default:
			err = dec.Skip()
		}
		return err
	})
}

// EncodeMsgpack writes a task's reply as [value, location, error, nested,
// returns]; the rarely set fields go through the reflection encoder.
func (r *PushTaskReply) EncodeMsgpack(enc *msgpack.Encoder) error {
	if err := enc.EncodeArrayLen(5); err != nil {
		return err
	}
	if err := enc.EncodeBytes(r.Value); err != nil {
		return err
	}
	if err := enc.Encode(r.Loc); err != nil {
		return err
	}
	if err := enc.Encode(r.Err); err != nil {
		return err
	}
	if err := enc.Encode(r.Nested); err != nil {
		return err
	}
	return enc.Encode(r.Returns)
}

// DecodeMsgpack reads what EncodeMsgpack writes.
func (r *PushTaskReply) DecodeMsgpack(dec *msgpack.Decoder) error {
	n, err := dec.DecodeArrayLen()
	if err != nil {
		return err
	}
	*r = PushTaskReply{}
	return decodeFields(dec, n, "PushTaskReply", func(i int) error {
		var err error
		switch i {
		case 0:
			r.Value, err = dec.DecodeBytes()
		case 1:
			err = dec.Decode(&r.Loc)
		case 2:
			err = dec.Decode(&r.Err)
		case 3:
			err = dec.Decode(&r.Nested)
		case 4:
			err = dec.Decode(&r.Returns)
		default:
			err = dec.Skip()
		}
		return err
	})
}

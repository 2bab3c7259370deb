package codec

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/rayo-dev/rayo/internal/errs"
)

// The golden fixtures pin the value format for every language: Python's
// tests (python/tests/test_codec.py) read the same files.
var update = flag.Bool("update", false, "rewrite the golden fixtures Go encodes (testdata/golden)")

const goldenDir = "testdata/golden"

type goldenFixture struct {
	Name   string          `json:"name"`
	Value  json.RawMessage `json:"value"`
	Encode []string        `json:"encode"`
}

// goldenValue is the manifest's language-neutral notation: one key names
// the form.
type goldenValue struct {
	Nil      *struct{}        `json:"nil"`
	Bool     *bool            `json:"bool"`
	Int      string           `json:"int"`
	Float64  string           `json:"float64"`
	Float32  string           `json:"float32"`
	Str      *string          `json:"str"`
	Bin      *string          `json:"bin"`
	Array    *[]goldenValue   `json:"array"`
	Map      *[][]goldenValue `json:"map"`
	Raw      *goldenRaw       `json:"raw"`
	Ref      []string         `json:"ref"`
	Actor    []string         `json:"actor"`
	Passable *string          `json:"passable"`
	PySet    json.RawMessage  `json:"pyset"`
	NDArray  json.RawMessage  `json:"ndarray"`
	isNil    bool
}

func (g *goldenValue) UnmarshalJSON(b []byte) error {
	type plain goldenValue
	if err := json.Unmarshal(b, (*plain)(g)); err != nil {
		return err
	}
	g.isNil = bytes.Contains(b, []byte(`"nil"`)) && g.Nil == nil && g.Array == nil && g.Map == nil
	return nil
}

type goldenRaw struct {
	Elem   string   `json:"elem"`
	Values []string `json:"values"`
}

// goldenMap encodes its entries in order (a Go map's order is random).
type goldenMap [][2]any

func (m goldenMap) EncodeMsgpack(enc *msgpack.Encoder) error {
	if err := enc.EncodeMapLen(len(m)); err != nil {
		return err
	}
	for _, kv := range m {
		if err := enc.Encode(kv[0]); err != nil {
			return err
		}
		if err := enc.Encode(kv[1]); err != nil {
			return err
		}
	}
	return nil
}

// goldenExt is an extension value (1, 2, 3) as package rayo writes it.
type goldenExt struct {
	id      int8
	payload []byte
}

func (x goldenExt) EncodeMsgpack(enc *msgpack.Encoder) error {
	if err := enc.EncodeExtHeader(x.id, len(x.payload)); err != nil {
		return err
	}
	_, err := enc.Writer().Write(x.payload)
	return err
}

func (x *goldenExt) DecodeMsgpack(dec *msgpack.Decoder) error {
	id, n, err := dec.DecodeExtHeader()
	if err != nil {
		return err
	}
	x.id, x.payload = id, make([]byte, n)
	return dec.ReadFull(x.payload)
}

var rawGoTypes = map[string]reflect.Type{
	"uint8": reflect.TypeFor[uint8](), "int8": reflect.TypeFor[int8](), "int16": reflect.TypeFor[int16](),
	"uint16": reflect.TypeFor[uint16](), "int32": reflect.TypeFor[int32](), "uint32": reflect.TypeFor[uint32](),
	"int64": reflect.TypeFor[int64](), "uint64": reflect.TypeFor[uint64](), "float32": reflect.TypeFor[float32](),
	"float64": reflect.TypeFor[float64](),
}

// goValue builds the Go value a fixture names; python is true for a
// value only Python has (ext type 4 somewhere inside).
func goValue(t *testing.T, g goldenValue) (v any, python bool) {
	t.Helper()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	switch {
	case g.isNil:
		return nil, false
	case g.Bool != nil:
		return *g.Bool, false
	case g.Int != "":
		n, ok := new(big.Int).SetString(g.Int, 10)
		if !ok {
			t.Fatalf("bad int %q", g.Int)
		}
		if n.IsInt64() {
			return n.Int64(), false
		}
		return n.Uint64(), false
	case g.Float64 != "":
		f, err := strconv.ParseFloat(g.Float64, 64)
		must(err)
		return f, false
	case g.Float32 != "":
		f, err := strconv.ParseFloat(g.Float32, 32)
		must(err)
		return float32(f), false
	case g.Str != nil:
		return *g.Str, false
	case g.Bin != nil:
		b, err := hex.DecodeString(*g.Bin)
		must(err)
		return b, false
	case g.Array != nil:
		out := []any{}
		for _, e := range *g.Array {
			x, py := goValue(t, e)
			python = python || py
			out = append(out, x)
		}
		return out, python
	case g.Map != nil:
		out := goldenMap{}
		for _, kv := range *g.Map {
			k, pk := goValue(t, kv[0])
			x, px := goValue(t, kv[1])
			python = python || pk || px
			out = append(out, [2]any{k, x})
		}
		return out, python
	case g.Raw != nil:
		et := rawGoTypes[g.Raw.Elem]
		s := reflect.MakeSlice(reflect.SliceOf(et), len(g.Raw.Values), len(g.Raw.Values))
		for i, text := range g.Raw.Values {
			switch et.Kind() {
			case reflect.Float32, reflect.Float64:
				f, err := strconv.ParseFloat(text, et.Bits())
				must(err)
				s.Index(i).SetFloat(f)
			case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
				n, err := strconv.ParseUint(text, 10, et.Bits())
				must(err)
				s.Index(i).SetUint(n)
			default:
				n, err := strconv.ParseInt(text, 10, et.Bits())
				must(err)
				s.Index(i).SetInt(n)
			}
		}
		return s.Interface(), false
	case g.Ref != nil, g.Actor != nil:
		id, parts := RefExtID, g.Ref
		if g.Actor != nil {
			id, parts = 2, g.Actor
		}
		payload, err := msgpack.Marshal(parts) // as ref.go and actor.go write it
		must(err)
		return goldenExt{id, payload}, false
	case g.Passable != nil:
		payload, err := hex.DecodeString(*g.Passable)
		must(err)
		return goldenExt{3, payload}, false
	case g.PySet != nil, g.NDArray != nil:
		return nil, true
	}
	t.Fatal("a fixture value of no known form")
	return nil, false
}

// canonical turns a value decoded into `any`, or built by goValue, into
// one form for comparison: integers of every width as int64 or uint64,
// maps as map[string]any keyed by the key's encoding.
func canonical(t *testing.T, v any) any {
	switch x := v.(type) {
	case goldenMap:
		m := map[string]any{}
		for _, kv := range x {
			k, _ := Marshal(canonical(t, kv[0]))
			m[string(k)] = canonical(t, kv[1])
		}
		return m
	case map[string]any:
		m := map[string]any{}
		for k, e := range x {
			kb, _ := Marshal(k)
			m[string(kb)] = canonical(t, e)
		}
		return m
	case map[any]any:
		m := map[string]any{}
		for k, e := range x {
			kb, _ := Marshal(canonical(t, k))
			m[string(kb)] = canonical(t, e)
		}
		return m
	case []goldenExt:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = e
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = canonical(t, e)
		}
		return out
	}
	rv := reflect.ValueOf(v)
	switch {
	case !rv.IsValid():
		return nil
	case rv.CanInt():
		return rv.Int()
	case rv.CanUint() && rv.Uint() <= math.MaxInt64:
		return int64(rv.Uint())
	case rv.CanUint():
		return rv.Uint()
	}
	return v
}

// decodeTarget is what to decode a fixture into: `any`, except where Go
// decodes into `any` only a map with string keys and no extensions.
func decodeTarget(g goldenValue) any {
	switch {
	case g.Map != nil && len(*g.Map) > 0 && (*g.Map)[0][0].Str == nil:
		return new(map[any]any)
	case g.Array != nil && len(*g.Array) > 0 && (*g.Array)[0].Ref != nil:
		return new([]goldenExt)
	}
	return new(any)
}

func readManifest(t *testing.T) []goldenFixture {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(goldenDir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct{ Fixtures []goldenFixture }
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m.Fixtures
}

func TestGolden(t *testing.T) {
	for _, f := range readManifest(t) {
		t.Run(f.Name, func(t *testing.T) {
			var g goldenValue
			if err := json.Unmarshal(f.Value, &g); err != nil {
				t.Fatal(err)
			}
			v, python := goValue(t, g)
			path := filepath.Join(goldenDir, f.Name+".bin")
			if slices.Contains(f.Encode, "go") {
				enc, err := MarshalRaw(v) // msgpack for all but raw slices
				if g.Bin != nil {
					enc, err = Marshal(v) // bin, the form of a []byte inside a value
				}
				if err != nil {
					t.Fatal(err)
				}
				if *update {
					if err := os.WriteFile(path, enc, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(enc, want) {
					t.Fatalf("Go encodes % x, the fixture holds % x", enc, want)
				}
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case python:
				var out any
				if err := Unmarshal(data, &out); !errors.Is(err, ErrPythonObject) {
					t.Fatalf("decoding a Python object: %v, want ErrPythonObject", err)
				}
			case g.Raw != nil:
				out := reflect.New(reflect.TypeOf(v))
				if err := Unmarshal(data, out.Interface()); err != nil {
					t.Fatal(err)
				}
				if got := out.Elem(); got.Len() != 0 || reflect.ValueOf(v).Len() != 0 {
					if !reflect.DeepEqual(got.Interface(), v) {
						t.Fatalf("decoded %v, want %v", got, v)
					}
				}
			case g.Ref != nil || g.Actor != nil || g.Passable != nil:
				var out goldenExt
				if err := Unmarshal(data, &out); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(out, v) {
					t.Fatalf("decoded %+v, want %+v", out, v)
				}
			default:
				out := decodeTarget(g)
				if err := Unmarshal(data, out); err != nil {
					t.Fatal(err)
				}
				if got, want := canonical(t, reflect.ValueOf(out).Elem().Interface()), canonical(t, v); !reflect.DeepEqual(got, want) {
					t.Fatalf("decoded %#v, want %#v", got, want)
				}
			}
		})
	}
}

// TestGoldenWireTaskError: an error map is what errs.WireTaskError encodes.
func TestGoldenWireTaskError(t *testing.T) {
	want := errs.WireTaskError{Code: "task_failed", TaskName: "add", TaskID: "t1", Message: "boom", Pid: 42, Matches: []string{"my_error"}}
	data, err := os.ReadFile(filepath.Join(goldenDir, "wire_task_error.bin"))
	if err != nil {
		t.Fatal(err)
	}
	enc, err := Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(enc, data) {
		t.Fatalf("Go encodes % x, the fixture holds % x", enc, data)
	}
	var got errs.WireTaskError
	if err := Unmarshal(data, &got); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded %+v (%v), want %+v", got, err, want)
	}
}

package proc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"iter"
	"math"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func TestLines(t *testing.T) {
	long := strings.Repeat("x", maxLine+10)
	tests := []struct {
		name   string
		writes []string
		want   []string // output lines, without the prefix and newline
	}{
		{"whole lines", []string{"a\nb\n"}, []string{"a", "b"}},
		{"split across writes", []string{"he", "llo\nwor", "ld\n"}, []string{"hello", "world"}},
		{"partial last line flushed", []string{"a\nb"}, []string{"a", "b"}},
		{"empty lines kept", []string{"\n\na\n"}, []string{"", "", "a"}},
		{"long line in pieces", []string{long + "\n"}, []string{long[:maxLine], long[maxLine:]}},
		{"long line over writes", []string{long[:100], long[100:], "\n"}, []string{long[:maxLine], long[maxLine:]}},
		{"exactly maxLine then newline", []string{long[:maxLine], "\n"}, []string{long[:maxLine]}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			tl := &tail{}
			l := newLines(&output{prefix: []byte("[p] ")}, &buf, tl)
			for _, w := range tt.writes {
				_, _ = l.Write([]byte(w))
			}
			l.Flush()
			var want strings.Builder
			for _, line := range tt.want {
				want.WriteString("[p] " + line + "\n")
			}
			if buf.String() != want.String() {
				t.Errorf("output %q, want %q", short(buf.String()), short(want.String()))
			}
			if got := tl.get(); len(got) != len(tt.want) {
				t.Errorf("tail has %d lines, want %d", len(got), len(tt.want))
			}
			if len(l.part) != 0 {
				t.Errorf("%d bytes left pending after Flush", len(l.part))
			}
		})
	}
}

func short(s string) string {
	if len(s) > 80 {
		return s[:40] + "..." + s[len(s)-40:]
	}
	return s
}

func TestTail(t *testing.T) {
	tl := &tail{}
	for i := range TailLines + 5 {
		tl.add([]byte(strings.Repeat("y", i)))
	}
	tl.add([]byte(strings.Repeat("z", maxTailLine+1)))
	got := tl.get()
	if len(got) != TailLines {
		t.Fatalf("tail keeps %d lines, want %d", len(got), TailLines)
	}
	if got[0] != strings.Repeat("y", 6) || len(got[TailLines-1]) != maxTailLine {
		t.Fatalf("tail = %q ... (%d bytes last)", got[0], len(got[TailLines-1]))
	}
}

// buildBatch builds a record of the given columns (names "c0", "c1"...).
func buildBatch(t *testing.T, cols ...arrow.Array) arrow.RecordBatch {
	t.Helper()
	fields := make([]arrow.Field, len(cols))
	for i, c := range cols {
		fields[i] = arrow.Field{Name: "c" + string(rune('0'+i)), Type: c.DataType(), Nullable: true}
	}
	rec := array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, int64(cols[0].Len()))
	for _, c := range cols {
		c.Release()
	}
	t.Cleanup(rec.Release)
	return rec
}

// payload joins encodeBatch's pieces.
func payload(t *testing.T, pieces [][]byte, n int) []byte {
	t.Helper()
	b := slices.Concat(pieces...)
	if len(b) != n {
		t.Fatalf("pieces hold %d bytes, nbytes %d", len(b), n)
	}
	return b
}

func TestEncodeBatch(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	t.Cleanup(func() { mem.AssertSize(t, 0) }) // after the records' releases

	b8 := array.NewBooleanBuilder(mem)
	b8.AppendValues([]bool{true, false, true}, nil)
	f32 := array.NewFloat32Builder(mem)
	f32.AppendValues([]float32{1.5, 0, 3.5}, []bool{true, false, true})
	i64 := array.NewInt64Builder(mem)
	i64.AppendValues([]int64{10, 20, 30}, nil)
	fsl := array.NewFixedSizeListBuilder(mem, 2, arrow.PrimitiveTypes.Uint16)
	vb := fsl.ValueBuilder().(*array.Uint16Builder)
	for i := range 3 {
		fsl.Append(true)
		vb.AppendValues([]uint16{uint16(i), uint16(i * 10)}, nil)
	}
	str := array.NewStringBuilder(mem)
	str.AppendValues([]string{"a", "", "ccc"}, []bool{true, false, true})
	rec := buildBatch(t, b8.NewArray(), f32.NewArray(), i64.NewArray(), fsl.NewArray(), str.NewArray())
	for _, b := range []interface{ Release() }{b8, f32, i64, fsl, str} {
		b.Release()
	}

	// A slice (offset 1) must encode its own rows only.
	sliced := rec.NewSlice(1, 3)
	defer sliced.Release()
	hdr, pieces, n, err := encodeBatch(sliced)
	if err != nil {
		t.Fatal(err)
	}
	p := payload(t, pieces, n)
	if hdr.Rows != 2 || len(hdr.Columns) != 5 {
		t.Fatalf("header %+v", hdr)
	}
	want := []struct {
		dtype string
		shape []int
	}{{"bool", []int{2}}, {"float32", []int{2}}, {"int64", []int{2}}, {"uint16", []int{2, 2}}, {"str", nil}}
	for i, c := range hdr.Columns {
		if c.Dtype != want[i].dtype || !slices.Equal(c.Shape, want[i].shape) {
			t.Errorf("column %d: %s %v, want %s %v", i, c.Dtype, c.Shape, want[i].dtype, want[i].shape)
		}
		if c.Dtype != "str" && c.Offset%align != 0 {
			t.Errorf("column %d at offset %d, not %d-aligned", i, c.Offset, align)
		}
	}
	col := func(i, size int) []byte { return p[hdr.Columns[i].Offset : hdr.Columns[i].Offset+size] }
	if got := col(0, 2); !bytes.Equal(got, []byte{0, 1}) {
		t.Errorf("bool bytes %v", got)
	}
	f := col(1, 8)
	if v0 := math.Float32frombits(binary.NativeEndian.Uint32(f)); !math.IsNaN(float64(v0)) {
		t.Errorf("null float = %v, want NaN", v0)
	}
	if v1 := math.Float32frombits(binary.NativeEndian.Uint32(f[4:])); v1 != 3.5 {
		t.Errorf("float = %v, want 3.5", v1)
	}
	if v := int64(binary.NativeEndian.Uint64(col(2, 8))); v != 20 {
		t.Errorf("int64 = %d, want 20", v)
	}
	u := col(3, 8)
	var us []uint16
	for i := 0; i < 8; i += 2 {
		us = append(us, binary.NativeEndian.Uint16(u[i:]))
	}
	if !slices.Equal(us, []uint16{1, 10, 2, 20}) {
		t.Errorf("fixed_size_list values %v", us)
	}
	if vals := *hdr.Columns[4].Values; vals[0] != nil || vals[1] != "ccc" {
		t.Errorf("strings %v", vals)
	}
}

func TestEncodeBatchUnsupported(t *testing.T) {
	mem := memory.DefaultAllocator
	d := array.NewDate32Builder(mem)
	d.Append(1)
	ints := array.NewInt32Builder(mem)
	ints.AppendValues([]int32{1, 2}, []bool{true, false})
	bools := array.NewBooleanBuilder(mem)
	bools.AppendValues([]bool{true, false}, []bool{false, true})
	ls := array.NewListBuilder(mem, arrow.PrimitiveTypes.Int8)
	ls.Append(true)
	fs := array.NewFixedSizeListBuilder(mem, 1, arrow.BinaryTypes.String)
	fs.Append(true)
	fs.ValueBuilder().(*array.StringBuilder).Append("s")
	for _, tc := range []struct {
		name string
		arr  arrow.Array
		want string
	}{
		{"date", d.NewArray(), "date32"},
		{"int nulls", ints.NewArray(), "nulls"},
		{"bool nulls", bools.NewArray(), "nulls"},
		{"list", ls.NewArray(), "list"},
		{"fixed_size_list of strings", fs.NewArray(), "fixed_size_list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := buildBatch(t, tc.arr)
			_, _, _, err := encodeBatch(rec)
			if !errors.Is(err, ErrUnsupportedColumn) || !strings.Contains(err.Error(), `"c0"`) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("encodeBatch = %v, want ErrUnsupportedColumn naming c0 and %s", err, tc.want)
			}
		})
	}
}

func TestDecodeMetrics(t *testing.T) {
	m, err := decodeMetrics(json.RawMessage(`{"i": 3, "f": 0.5, "e": 1e3, "nan": {"__float__": "nan"},
		"inf": {"__float__": "inf"}, "ninf": {"__float__": "-inf"}, "l": [1, {"__float__": "nan"}], "s": "x", "n": null,
		"d": {"__float__": "nan", "other": 1}}`))
	if err != nil {
		t.Fatal(err)
	}
	if m["i"] != int64(3) || m["f"] != 0.5 || m["e"] != 1000.0 || m["s"] != "x" || m["n"] != nil {
		t.Errorf("scalars: %#v", m)
	}
	if f, _ := m["nan"].(float64); !math.IsNaN(f) || m["inf"] != math.Inf(1) || m["ninf"] != math.Inf(-1) {
		t.Errorf("non-finite: %v %v %v", m["nan"], m["inf"], m["ninf"])
	}
	if l := m["l"].([]any); l[0] != int64(1) || !math.IsNaN(l[1].(float64)) {
		t.Errorf("list: %v", l)
	}
	if d := m["d"].(map[string]any); d["__float__"] != "nan" || d["other"] != int64(1) {
		t.Errorf("a dict with more than the tag stays a dict: %v", d)
	}
	if _, err := decodeMetrics(json.RawMessage(`[1]`)); err == nil {
		t.Error("a list decoded as metrics")
	}
}

func TestChildEnv(t *testing.T) {
	dev, err := filepath.Abs("../../../python")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("RAYO_PYTHONPATH", dev)
	inherited := []string{"HOME=/home/u", "RAYO_TOKEN=secret", "RAYO_TLS_KEY=k", "RAYO_BRIDGE_TOKEN=b",
		"RAYO_TRAIN_FD=9", "RAYO_ADDRESS=head:1", "PYTHONPATH=/site", "LANG=C"}
	env, err := childEnv(inherited, Spec{Env: map[string]string{"RANK": "1", "LANG": "C.UTF-8"}, CollectiveTimeout: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	last := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		last[k] = v
	}
	for _, k := range []string{"RAYO_TOKEN", "RAYO_TLS_KEY", "RAYO_BRIDGE_TOKEN"} {
		if _, ok := last[k]; ok {
			t.Errorf("%s reaches the script", k)
		}
	}
	want := map[string]string{
		"HOME": "/home/u", "RAYO_ADDRESS": "head:1", "RANK": "1", "LANG": "C.UTF-8", "RAYO_TRAIN_FD": "3",
		"PYTHONUNBUFFERED": "1", "PYTHONSAFEPATH": "1", "RAYO_TRAIN_SAFEPATH": "1",
		"PYTHONPATH": dev + ":/site", "RAYO_TRAIN_COLLECTIVE_TIMEOUT": "1.5",
	}
	for k, v := range want {
		if last[k] != v {
			t.Errorf("%s=%q, want %q", k, last[k], v)
		}
	}

	// The user's own PYTHONSAFEPATH stays theirs.
	env, err = childEnv([]string{"PYTHONSAFEPATH=1"}, Spec{})
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range env {
		if strings.HasPrefix(kv, "RAYO_TRAIN_SAFEPATH=") || strings.HasPrefix(kv, "RAYO_TRAIN_COLLECTIVE_TIMEOUT=") {
			t.Errorf("%s set", kv)
		}
	}
}

func TestPythonPath(t *testing.T) {
	dev, err := filepath.Abs("../../../python")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("RAYO_PYTHONPATH without the package", func(t *testing.T) {
		t.Setenv("RAYO_PYTHONPATH", t.TempDir())
		if _, err := pythonPath(""); !errors.Is(err, ErrNoPackage) {
			t.Fatalf("pythonPath = %v, want ErrNoPackage", err)
		}
	})
	t.Run("PYTHONPATH with the package is kept", func(t *testing.T) {
		t.Setenv("RAYO_PYTHONPATH", "")
		cur := "/nowhere:" + dev
		if got, err := pythonPath(cur); err != nil || got != cur {
			t.Fatalf("pythonPath(%q) = %q, %v", cur, got, err)
		}
	})
	t.Run("embedded package extracted first", func(t *testing.T) {
		t.Setenv("RAYO_PYTHONPATH", "")
		got, err := pythonPath("/site")
		if err != nil {
			t.Fatal(err)
		}
		first, rest, _ := strings.Cut(got, ":")
		if rest != "/site" || !isFile(filepath.Join(first, launcher)) {
			t.Fatalf("pythonPath = %q: want the extracted package, then /site", got)
		}
		if !strings.HasPrefix(first, os.Getenv("XDG_CACHE_HOME")) {
			t.Fatalf("extracted to %s, not under the cache directory", first)
		}
	})
}

func TestCommandSpecErrors(t *testing.T) {
	script := filepath.Join(t.TempDir(), "s.py")
	if err := os.WriteFile(script, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		spec Spec
		want error
	}{
		{"neither", Spec{}, ErrSpec},
		{"both", Spec{Script: script, Module: "m"}, ErrSpec},
		{"missing script", Spec{Script: script + ".nope"}, ErrScriptNotFound},
		{"directory as script", Spec{Script: filepath.Dir(script)}, ErrScriptNotFound},
		{"module like a flag", Spec{Module: "-c"}, ErrSpec},
		{"bad env name", Spec{Script: script, Env: map[string]string{"A=B": "c"}}, ErrSpec},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := Run(context.Background(), tc.spec, nil); !errors.Is(err, tc.want) {
				t.Fatalf("Run = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestServerProtocol drives the server over a socket pair as a
// misbehaving script might.
func TestServerProtocol(t *testing.T) {
	mine, theirs, err := socketPair()
	if err != nil {
		t.Fatal(err)
	}
	peer, err := net.FileConn(theirs)
	_ = theirs.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	h := &fakeHandler{shards: map[string]Shard{"s": &errShard{}}}
	srv := newServer(h, mine)
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.serve(context.Background())
	}()
	r := bufio.NewReader(peer)
	call := func(line string) map[string]any {
		t.Helper()
		if _, err := peer.Write([]byte(line + "\n")); err != nil {
			t.Fatal(err)
		}
		b, err := r.ReadBytes('\n')
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	errType := func(m map[string]any) string {
		e, _ := m["error"].(map[string]any)
		s, _ := e["type"].(string)
		return s
	}
	if m := call("not json"); errType(m) != "ProtocolError" {
		t.Errorf("garbage: %v", m)
	}
	if m := call(`{"id": 7, "op": "dance"}`); errType(m) != "TrainError" || m["id"] != 7.0 {
		t.Errorf("unknown op: %v", m)
	}
	if m := call(`{"id": 8, "op": "report", "metrics": [1]}`); errType(m) != "TrainError" {
		t.Errorf("metrics not a dict: %v", m)
	}
	if m := call(`{"id": 9, "op": "shard_next", "name": "s", "start": false, "epoch": 5}`); errType(m) != "TrainError" {
		t.Errorf("next without an epoch: %v", m)
	}
	if m := call(`{"id": 10, "op": "shard_next", "name": "s", "start": true, "batch_size": 2}`); errType(m) != "TrainError" ||
		!strings.Contains(m["error"].(map[string]any)["message"].(string), "disk on fire") {
		t.Errorf("a failing shard: %v", m)
	}
	if m := call(`{"id": 11, "op": "report", "metrics": {"a": 1}, "checkpoint": null}`); m["ok"] == nil || len(h.reports) != 1 {
		t.Errorf("report: %v", m)
	}
	_ = mine.Close()
	<-done
}

// errShard fails its epoch after one empty batch.
type errShard struct{}

func (errShard) Batches(context.Context, int) iter.Seq2[arrow.RecordBatch, error] {
	return func(yield func(arrow.RecordBatch, error) bool) {
		if !yield(nil, nil) {
			return
		}
		yield(nil, errors.New("disk on fire"))
	}
}

package data_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/data/internal/block"
)

// sumResult is what tSumColumn reports about the block it read.
type sumResult struct {
	Pid     int    // the worker's process
	Rows    int64  // rows in the block
	Sum     int64  // sum of column "x"
	InPlace bool   // column x's data lies inside the bytes the task got
	Mapping string // the file mapped where those bytes are (/proc/self/maps)
}

// tSumColumn decodes the block it is given in place and sums column "x".
var tSumColumn = rayo.Register[sumResult]("rayo.data.test.sumColumn", func(b []byte) (sumResult, error) {
	rec, err := block.Decode(b)
	if err != nil {
		return sumResult{}, err
	}
	defer rec.Release()
	idx := rec.Schema().FieldIndices("x")
	if len(idx) != 1 {
		return sumResult{}, fmt.Errorf("no column x in %v", rec.Schema())
	}
	col, ok := rec.Column(idx[0]).(*array.Int64)
	if !ok {
		return sumResult{}, fmt.Errorf("column x is %s", rec.Column(idx[0]).DataType())
	}
	res := sumResult{Pid: os.Getpid(), Rows: rec.NumRows()}
	for _, v := range col.Int64Values() {
		res.Sum += v
	}
	res.InPlace = inside(col.Data().Buffers()[1].Bytes(), b)
	res.Mapping, err = mappingOf(uintptr(unsafe.Pointer(&b[0])))
	return res, err
})

// inside reports whether p lies within b.
func inside(p, b []byte) bool {
	if len(p) == 0 || len(b) == 0 {
		return false
	}
	lo, hi := uintptr(unsafe.Pointer(&b[0])), uintptr(unsafe.Pointer(&b[len(b)-1]))
	return uintptr(unsafe.Pointer(&p[0])) >= lo && uintptr(unsafe.Pointer(&p[len(p)-1])) <= hi
}

// mappingOf returns the path of the file mapped at addr in this process
// ("" for anonymous memory: the Go heap).
func mappingOf(addr uintptr) (string, error) {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		l, err1 := strconv.ParseUint(lo, 16, 64)
		h, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || uint64(addr) < l || uint64(addr) >= h {
			continue
		}
		if len(fields) < 6 {
			return "", nil
		}
		return fields[5], nil
	}
	return "", sc.Err()
}

// TestBlockReadInPlaceByTask: a block put in the object store is read by a
// task in a worker process from shared memory: the column the task sums
// lies in the bytes it was handed, and those bytes are a file mapping (the
// store's segment), not the worker's heap.
func TestBlockReadInPlaceByTask(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const rows = 40_000 // 640 KB of columns: well above the inline limit
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "y", Type: arrow.PrimitiveTypes.Float64},
		{Name: "x", Type: arrow.PrimitiveTypes.Int64},
	}, nil)
	bld := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer bld.Release()
	var want int64
	for i := range rows {
		bld.Field(0).(*array.Float64Builder).Append(float64(i) / 3)
		bld.Field(1).(*array.Int64Builder).Append(int64(i*7 - 1000))
		want += int64(i*7 - 1000)
	}
	rec := bld.NewRecord()
	defer rec.Release()
	b, err := block.Encode(rec)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 100<<10 {
		t.Fatalf("block of %d bytes: too small to be in shared memory", len(b))
	}
	ref, err := rayo.Put(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	res, err := tSumColumn.Remote(ref).Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Pid == os.Getpid() {
		t.Fatal("the task ran in the driver, not a worker")
	}
	if res.Rows != rows || res.Sum != want {
		t.Fatalf("task read %d rows summing to %d, want %d and %d", res.Rows, res.Sum, rows, want)
	}
	if !res.InPlace {
		t.Fatal("the task's column is not inside the bytes it was handed: decoded by copy")
	}
	if res.Mapping == "" || strings.HasPrefix(res.Mapping, "[") {
		t.Fatalf("the task's block is in %q, not a shared-memory file mapping", res.Mapping)
	}
	t.Logf("worker %d read the block in place from %s", res.Pid, res.Mapping)

	// The driver, on the same node, reads it in place too.
	got, err := ref.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	drec, err := block.Decode(got)
	if err != nil {
		t.Fatal(err)
	}
	defer drec.Release()
	if !array.RecordEqual(rec, drec) {
		t.Fatal("the driver's decode differs from the batch put")
	}
	if m, err := mappingOf(uintptr(unsafe.Pointer(&got[0]))); err != nil || m == "" || strings.HasPrefix(m, "[") {
		t.Fatalf("the driver's Get of the block is in %q (%v), not a shared-memory mapping", m, err)
	}
	if !inside(drec.Column(1).Data().Buffers()[1].Bytes(), got) {
		t.Fatal("the driver's decode copied the column")
	}

	// A damaged block fails the task with ErrCorrupt, matched across the
	// wire, and the worker lives on to read the next one.
	bad := append([]byte(nil), b...)
	bad[block.HeaderSize+12] ^= 0xff // inside the schema message
	badRef, err := rayo.Put(ctx, bad)
	if err != nil {
		t.Fatal(err)
	}
	_, err = tSumColumn.Remote(badRef).Get(ctx)
	var te *rayo.TaskError
	if !errors.Is(err, block.ErrCorrupt) || !errors.As(err, &te) {
		t.Fatalf("task on a damaged block: %v, want a TaskError matching block.ErrCorrupt", err)
	}
	again, err := tSumColumn.Remote(ref).Get(ctx)
	if err != nil || again.Sum != want {
		t.Fatalf("after the damaged block: %+v, %v", again, err)
	}
}

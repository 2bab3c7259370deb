package compute_test

import (
	"strings"
	"testing"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/rayo-dev/rayo/data/internal/block"
	"github.com/rayo-dev/rayo/data/internal/compute"
)

// viaBlock encodes rec as a block and decodes it in place, as a partial
// travels between a shuffle's map and reduce tasks.
func viaBlock(t *testing.T, rec arrow.Record) arrow.Record {
	t.Helper()
	out, _ := viaBlockBuf(t, rec)
	return out
}

// viaBlockBuf is viaBlock, also returning the bytes the record reads.
func viaBlockBuf(t *testing.T, rec arrow.Record) (arrow.Record, []byte) {
	t.Helper()
	b, err := block.Encode(rec)
	if err != nil {
		t.Fatal(err)
	}
	// Decode wants 8-byte alignment, as the object store gives.
	buf := make([]uint64, (len(b)+7)/8)
	al := unsafe.Slice((*byte)(unsafe.Pointer(&buf[0])), len(b))
	copy(al, b)
	out, err := block.Decode(al)
	if err != nil {
		t.Fatal(err)
	}
	return out, al
}

// No output reads its input's memory: every kernel's result survives
// the input block's bytes being overwritten (as the store reuses them).
func TestOutputsOwnTheirMemory(t *testing.T) {
	rec := randRecord(t, 300, 10, 12)
	for _, keys := range keySets {
		want, err := compute.Aggregate([]arrow.Record{rec}, keys, allAggs)
		if err != nil {
			t.Fatal(err)
		}
		p, err := compute.Partial(rec, keys, allAggs)
		if err != nil {
			t.Fatal(err)
		}
		in, buf := viaBlockBuf(t, p)
		got, err := compute.Finalize(in, keys, allAggs)
		if err != nil {
			t.Fatal(err)
		}
		comb, err := compute.Combine([]arrow.Record{in}, keys, allAggs)
		if err != nil {
			t.Fatal(err)
		}
		raw, rbuf := viaBlockBuf(t, rec)
		part, err := compute.Partial(raw, keys, allAggs)
		if err != nil {
			t.Fatal(err)
		}
		for i := range buf {
			buf[i] = 0xff
		}
		for i := range rbuf {
			rbuf[i] = 0xff
		}
		for _, r := range []arrow.Record{got} {
			sameRows(t, "finalize after the input's bytes changed", rowsOf(r), rowsOf(want))
		}
		for _, r := range []arrow.Record{comb, part} {
			f, err := compute.Finalize(r, keys, allAggs)
			if err != nil {
				t.Fatal(err)
			}
			sameRows(t, "partial after the input's bytes changed", rowsOf(f), rowsOf(want))
		}
	}
}

// Partials, parts and results are valid blocks, and partials decoded
// from blocks combine to the same result.
func TestOutputsAreBlocks(t *testing.T) {
	rec := randRecord(t, 400, 9, 15)
	keys := []string{"ks", "ki"}
	want, err := compute.Aggregate([]arrow.Record{rec}, keys, allAggs)
	if err != nil {
		t.Fatal(err)
	}
	var partials []arrow.Record
	for p := range 3 {
		pr, err := compute.Partial(rec.NewSlice(int64(p*400/3), int64((p+1)*400/3)), keys, allAggs)
		if err != nil {
			t.Fatal(err)
		}
		partials = append(partials, viaBlock(t, pr))
	}
	c, err := compute.Combine(partials, keys, allAggs)
	if err != nil {
		t.Fatal(err)
	}
	got, err := compute.Finalize(viaBlock(t, c), keys, allAggs)
	if err != nil {
		t.Fatal(err)
	}
	sameRows(t, "via blocks", rowsOf(viaBlock(t, got)), rowsOf(want))

	parts, err := compute.HashPartition(rec, keys, 4)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range parts {
		viaBlock(t, p)
	}
	j, err := compute.HashJoin([]arrow.Record{rec}, []arrow.Record{rec.NewSlice(0, 50)}, []string{"ki"}, []string{"ki"}, "outer", "_r")
	if err != nil {
		t.Fatal(err)
	}
	if back := viaBlock(t, j); !strings.Contains(back.Schema().String(), "vf_r") {
		t.Fatalf("join schema %s", back.Schema())
	}
}

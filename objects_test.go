package rayo_test

import (
	"bytes"
	"crypto/sha256"
	"testing"

	"github.com/rayo-dev/rayo"
)

var (
	tChecksum = rayo.Register[[32]byte]("test.checksum", func(b []byte) [32]byte { return sha256.Sum256(b) })
	tMakeBig  = rayo.Register[[]float64]("test.makeBig", func(n int) []float64 {
		out := make([]float64, n)
		for i := range out {
			out[i] = float64(i) / 2
		}
		return out
	})
	tSumF = rayo.Register[float64]("test.sumF", func(xs []float64) float64 {
		s := 0.0
		for _, x := range xs {
			s += x
		}
		return s
	})
)

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func TestLargeObjects(t *testing.T) {
	ctx := initEmbedded(t)
	data := pattern(8 << 20)
	ref, err := rayo.Put(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ref.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("large Put/Get: bytes differ")
	}
	// Two Gets on this node see the same shared memory: zero copy.
	again, err := ref.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if &again[0] != &got[0] {
		t.Fatal("two Gets of a stored []byte returned different memory: the value was copied")
	}
	// A large object as a task argument (by ref and by value).
	want := sha256.Sum256(data)
	for name, arg := range map[string]any{"ref": ref, "value": data} {
		sum, err := tChecksum.Remote(arg).Get(ctx)
		if err != nil || sum != want {
			t.Fatalf("checksum of a large %s argument: %x %v", name, sum, err)
		}
	}
	// A large result, passed on to another task without coming back here.
	big := tMakeBig.Remote(1 << 20)
	s, err := tSumF.Remote(big).Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := float64(1 << 20)
	if s != (n-1)*n/4 {
		t.Fatalf("sum of a large result: %v", s)
	}
	xs, err := big.Get(ctx)
	if err != nil || len(xs) != 1<<20 || xs[12345] != 12345.0/2 {
		t.Fatalf("large result Get: len %d err %v", len(xs), err)
	}
}

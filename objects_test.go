package rayo_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"runtime"
	"testing"
	"time"

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

func initWithStore(t *testing.T, capacity int64) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	t.Cleanup(cancel)
	if err := rayo.Init(ctx, rayo.WithNumCPUs(2), rayo.WithLogToDriver(false), rayo.WithTempDir(t.TempDir()),
		rayo.WithObjectStoreMemory(capacity)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rayo.Shutdown)
	return ctx
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}

func storeObjects(t *testing.T, ctx context.Context) int {
	st, err := rayo.StoreForTest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return len(st.Objects)
}

func TestDroppedRefsFreeTheStore(t *testing.T) {
	ctx := initWithStore(t, 64<<20)
	// 400 MiB through a 64 MiB store, dropping every ref: usage stays
	// bounded and nothing needs to spill.
	for i := 0; i < 400; i++ {
		if _, err := rayo.Put(ctx, pattern(1<<20)); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	waitFor(t, "the store to empty", func() bool { return storeObjects(t, ctx) == 0 })
	st, err := rayo.StoreForTest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Used != 0 {
		t.Fatalf("store still uses %d bytes", st.Used)
	}
}

type box struct {
	Inner rayo.ObjectRef[box]
	Leaf  rayo.ObjectRef[[]byte]
	Depth int
}

func TestNestedRefsFreedWithOuter(t *testing.T) {
	ctx := initWithStore(t, 64<<20)
	var outerID, leafID string
	func() {
		leaf, err := rayo.Put(ctx, pattern(1<<20)) // stored
		if err != nil {
			t.Fatal(err)
		}
		leafID = leaf.ID()
		l1, _ := rayo.Put(ctx, box{Leaf: leaf, Depth: 1})
		l2, _ := rayo.Put(ctx, box{Inner: l1, Depth: 2})
		l3, err := rayo.Put(ctx, box{Inner: l2, Depth: 3})
		if err != nil {
			t.Fatal(err)
		}
		outerID = l3.ID()
		// Only l3 is referred to from here on: the rest live through it.
		v, err := l3.Get(ctx)
		if err != nil || v.Depth != 3 {
			t.Fatal(v, err)
		}
		in, err := v.Inner.Get(ctx)
		if err != nil || in.Depth != 2 {
			t.Fatal(in, err)
		}
	}()
	waitFor(t, "the nested objects to be freed", func() bool {
		_, _, _, _, outer := rayo.RefCountsForTest(outerID)
		_, _, _, _, leaf := rayo.RefCountsForTest(leafID)
		return !outer && !leaf && storeObjects(t, ctx) == 0
	})
}

var (
	keeperType = rayo.RegisterActor[keeper]("test.Keeper", func() *keeper { return &keeper{} })
	keepRef    = rayo.RegisterMethod[int](keeperType, "Keep", func(k *keeper, b box) int { k.kept = b.Leaf; return b.Depth })
	readKept   = rayo.RegisterMethod[[32]byte](keeperType, "Read", func(k *keeper, ctx context.Context) ([32]byte, error) {
		b, err := k.kept.Get(ctx)
		if err != nil {
			return [32]byte{}, err
		}
		return sha256.Sum256(b), nil
	})
)

type keeper struct{ kept rayo.ObjectRef[[]byte] }

func TestBorrowerKeepsObjectAlive(t *testing.T) {
	ctx := initWithStore(t, 64<<20)
	k, err := keeperType.New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	data := pattern(2 << 20)
	func() {
		leaf, err := rayo.Put(ctx, data)
		if err != nil {
			t.Fatal(err)
		}
		// The ref travels nested in a value: the actor keeps it.
		if _, err := keepRef.Remote(k, box{Leaf: leaf, Depth: 7}).Get(ctx); err != nil {
			t.Fatal(err)
		}
	}()
	// The driver, the owner, no longer refers to the object; the actor
	// does, so the object must survive collection here.
	for i := 0; i < 5; i++ {
		runtime.GC()
	}
	sum, err := readKept.Remote(k).Get(ctx)
	if err != nil {
		t.Fatalf("the borrower lost the object: %v", err)
	}
	if sum != sha256.Sum256(data) {
		t.Fatal("the borrowed object's bytes changed")
	}
}

// BenchmarkPut1GiB: Put of a 1 GiB []byte (written once into the node's
// shared memory), against a memcpy of the same size in the same run.
func BenchmarkPut1GiB(b *testing.B) {
	ctx := initEmbedded(b)
	data := pattern(1 << 30)
	dst := make([]byte, len(data))
	copy(dst, data)
	start := time.Now()
	for i := 0; i < 3; i++ {
		copy(dst, data)
	}
	memcpy := 3 * float64(len(data)) / time.Since(start).Seconds() / 1e9
	b.ResetTimer()
	start = time.Now()
	for i := 0; i < b.N; i++ {
		ref, err := rayo.Put(ctx, data)
		if err != nil {
			b.Fatal(err)
		}
		runtime.KeepAlive(ref)
		b.StopTimer()
		runtime.GC() // frees the previous copy
		b.StartTimer()
	}
	put := float64(b.N) * float64(len(data)) / time.Since(start).Seconds() / 1e9
	b.ReportMetric(put, "GB/s")
	b.ReportMetric(put/memcpy, "x-memcpy")
}

// BenchmarkSpillRestore: puts three times a 256 MiB store's capacity in
// 4 MiB objects, keeping them, then reads everything back; reports the
// node's spill and restore rates.
func BenchmarkSpillRestore(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := rayo.Init(ctx, rayo.WithNumCPUs(2), rayo.WithLogToDriver(false), rayo.WithTempDir(b.TempDir()),
		rayo.WithObjectStoreMemory(256<<20)); err != nil {
		b.Fatal(err)
	}
	defer rayo.Shutdown()
	for i := 0; i < b.N; i++ {
		refs := make([]rayo.ObjectRef[[]byte], 192)
		for j := range refs {
			r, err := rayo.Put(ctx, pattern(4<<20))
			if err != nil {
				b.Fatal(err)
			}
			refs[j] = r
		}
		for _, r := range refs {
			v, err := r.Get(ctx)
			if err != nil || len(v) != 4<<20 {
				b.Fatal(err)
			}
		}
	}
	st, err := rayo.StoreForTest(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if st.SpillNanos > 0 {
		b.ReportMetric(float64(st.SpillBytes)/1e6/(float64(st.SpillNanos)/1e9), "spill-MB/s")
	}
	if st.RestoreNanos > 0 {
		b.ReportMetric(float64(st.RestoreBytes)/1e6/(float64(st.RestoreNanos)/1e9), "restore-MB/s")
	}
}

package objstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"
)

const kib = 1 << 10
const mib = 1 << 20

func openStore(t testing.TB, capacity int64) *Store {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(Config{
		Path:     filepath.Join(dir, "segment"),
		Capacity: capacity,
		SpillDir: filepath.Join(dir, "spill"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newMapper(t testing.TB) *Mapper {
	m := NewMapper()
	t.Cleanup(func() { m.Close() })
	return m
}

// pattern returns n bytes that depend on seed and position.
func pattern(seed, n int) []byte {
	b := make([]byte, n)
	x := uint32(seed)*2654435761 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// put creates, writes (through the store's own mapping) and seals.
func put(t testing.TB, s *Store, id string, data []byte, primary bool) Location {
	t.Helper()
	loc, err := s.Create(id, int64(len(data)), primary, "writer")
	if err != nil {
		t.Fatalf("Create(%s): %v", id, err)
	}
	b, err := s.Bytes(loc)
	if err != nil {
		t.Fatalf("Bytes(%s): %v", id, err)
	}
	copy(b, data)
	if err := s.Seal(id, "writer"); err != nil {
		t.Fatalf("Seal(%s): %v", id, err)
	}
	return loc
}

func mustGet(t testing.TB, s *Store, id, holder string) Location {
	t.Helper()
	loc, err := s.Get(id, holder)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return loc
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "seg")
	s, err := Open(Config{Path: path, Capacity: 1000, SpillDir: filepath.Join(dir, "a", "b")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if st := s.Stats(); st.Capacity != 1024 {
		t.Errorf("capacity %d, want 1000 rounded up to 1024", st.Capacity)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 1024 {
		t.Errorf("segment file: %v, %v", fi, err)
	}
	if _, err := Open(Config{Path: path, Capacity: 1000, SpillDir: dir}); err == nil {
		t.Error("Open of an existing path succeeded")
	}
	for _, cfg := range []Config{
		{Path: filepath.Join(dir, "x"), Capacity: 0, SpillDir: dir},
		{Path: filepath.Join(dir, "x"), Capacity: -1, SpillDir: dir},
		{Path: "", Capacity: 100, SpillDir: dir},
		{Path: filepath.Join(dir, "x"), Capacity: 100},
	} {
		if _, err := Open(cfg); err == nil {
			t.Errorf("Open(%+v) succeeded", cfg)
		}
	}
}

func TestCreateSealGetReleaseDelete(t *testing.T) {
	s := openStore(t, 1*mib)
	data := pattern(1, 1000)

	loc, err := s.Create("a", 1000, true, "w1")
	if err != nil {
		t.Fatal(err)
	}
	if loc.Offset%Alignment != 0 || loc.Size != 1000 {
		t.Fatalf("location %+v", loc)
	}
	if _, err := s.Create("a", 10, true, "w1"); !errors.Is(err, ErrObjectExists) {
		t.Fatalf("second Create: %v, want ErrObjectExists", err)
	}
	// Unsealed: invisible to readers, pinned by the creator.
	if s.Contains("a") {
		t.Error("Contains of unsealed object")
	}
	if _, err := s.Get("a", "r"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of unsealed: %v", err)
	}
	info, ok := s.Info("a")
	if !ok || info.Sealed || info.Pins != 1 || info.Holders["w1"] != 1 || !info.Primary {
		t.Errorf("info of unsealed: %+v", info)
	}
	b, _ := s.Bytes(loc)
	copy(b, data)
	if err := s.Seal("a", "w1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Seal("a", "w1"); err == nil {
		t.Error("second Seal succeeded")
	}
	if err := s.Seal("nope", "w1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Seal of unknown: %v", err)
	}
	info, _ = s.Info("a")
	if !info.Sealed || info.Pins != 0 || len(info.Holders) != 0 {
		t.Errorf("info after seal: %+v", info)
	}
	if !s.Contains("a") {
		t.Error("Contains after seal")
	}

	l1 := mustGet(t, s, "a", "r1")
	l2 := mustGet(t, s, "a", "r1")
	l3 := mustGet(t, s, "a", "r2")
	if l1 != loc || l2 != loc || l3 != loc {
		t.Errorf("Get locations %v %v %v, want %v", l1, l2, l3, loc)
	}
	info, _ = s.Info("a")
	if info.Pins != 3 || info.Holders["r1"] != 2 || info.Holders["r2"] != 1 {
		t.Errorf("pins: %+v", info)
	}
	got, _ := s.Bytes(l1)
	if !bytes.Equal(got, data) {
		t.Error("content mismatch")
	}
	s.Release("a", "r1")
	s.Release("a", "r2")
	s.Release("a", "nobody")
	s.Release("nope", "r1")
	info, _ = s.Info("a")
	if info.Pins != 1 || info.Holders["r1"] != 1 {
		t.Errorf("pins after release: %+v", info)
	}
	s.Release("a", "r1")

	st := s.Stats()
	if st.Objects != 1 || st.Used != 1024 || st.PrimaryBytes != 1000 || st.SecondaryBytes != 0 {
		t.Errorf("stats: %+v", st)
	}
	if l := s.List(); len(l) != 1 || l[0].ID != "a" {
		t.Errorf("List: %+v", l)
	}
	s.Delete("a")
	s.Delete("a")
	s.Delete("unknown")
	if s.Contains("a") {
		t.Error("Contains after Delete")
	}
	if _, ok := s.Info("a"); ok {
		t.Error("Info after Delete")
	}
	if st := s.Stats(); st.Objects != 0 || st.Used != 0 || st.PrimaryBytes != 0 {
		t.Errorf("stats after delete: %+v", st)
	}
	// The ID can be used again.
	put(t, s, "a", data, false)
	if st := s.Stats(); st.SecondaryBytes != 1000 {
		t.Errorf("stats: %+v", st)
	}
}

func TestAbort(t *testing.T) {
	s := openStore(t, 64*kib)
	if _, err := s.Create("a", 4096, true, "w"); err != nil {
		t.Fatal(err)
	}
	s.Abort("a")
	if _, ok := s.Info("a"); ok {
		t.Error("aborted object still there")
	}
	if st := s.Stats(); st.Used != 0 || st.Objects != 0 {
		t.Errorf("stats after abort: %+v", st)
	}
	put(t, s, "b", pattern(2, 100), true)
	s.Abort("b") // sealed: no effect
	if !s.Contains("b") {
		t.Error("Abort removed a sealed object")
	}
}

// A creator giving up over the wire frees its space at once; nobody else
// can drop its object, nor a sealed one.
func TestAbortBy(t *testing.T) {
	s := openStore(t, 64*kib)
	if _, err := s.Create("a", 4096, true, "w"); err != nil {
		t.Fatal(err)
	}
	if s.AbortBy("a", "someone else") {
		t.Fatal("AbortBy of another holder's object")
	}
	if !s.AbortBy("a", "w") {
		t.Fatal("AbortBy of the creator's unsealed object did nothing")
	}
	if st := s.Stats(); st.Used != 0 || st.Objects != 0 {
		t.Errorf("stats after AbortBy: %+v", st)
	}
	if _, err := s.Create("a", 4096, true, "w"); err != nil {
		t.Fatalf("the ID again after AbortBy: %v", err)
	}
	put(t, s, "b", pattern(2, 100), true)
	if s.AbortBy("b", "w") || !s.Contains("b") {
		t.Error("AbortBy removed a sealed object")
	}
}

func TestZeroSize(t *testing.T) {
	s := openStore(t, 64*kib)
	m := newMapper(t)
	loc, err := s.Create("z", 0, true, "w")
	if err != nil {
		t.Fatal(err)
	}
	if loc.Size != 0 {
		t.Fatalf("location %+v", loc)
	}
	if b, err := s.Bytes(loc); b != nil || err != nil {
		t.Errorf("Store.Bytes: %v %v", b, err)
	}
	if b, err := m.Bytes(loc); b != nil || err != nil {
		t.Errorf("Mapper.Bytes: %v %v", b, err)
	}
	if err := s.Seal("z", "w"); err != nil {
		t.Fatal(err)
	}
	got := mustGet(t, s, "z", "r")
	if got.Size != 0 {
		t.Errorf("Get: %+v", got)
	}
	if st := s.Stats(); st.Used != 0 || st.Objects != 1 {
		t.Errorf("stats: %+v", st)
	}
	// Fill the store: the zero-size object is not in the way.
	put(t, s, "full", pattern(1, 64*kib), true)
	s.Release("z", "r")
	s.Delete("z")
	if st := s.Stats(); st.Objects != 1 || st.Used != 64*kib {
		t.Errorf("stats: %+v", st)
	}
}

// TestMapperSharesMemory writes through one mapping of the segment (a
// Mapper, as a client process would) and reads through another (a second
// Mapper, and the Store's own): they are views of the same memory.
func TestMapperSharesMemory(t *testing.T) {
	s := openStore(t, 1*mib)
	writer := newMapper(t)
	reader := newMapper(t)
	data := pattern(7, 300*kib)

	loc, err := s.Create("obj", int64(len(data)), true, "writer")
	if err != nil {
		t.Fatal(err)
	}
	w, err := writer.Bytes(loc)
	if err != nil {
		t.Fatal(err)
	}
	if len(w) != len(data) || cap(w) != len(data) {
		t.Fatalf("len %d cap %d, want %d", len(w), cap(w), len(data))
	}
	copy(w, data)
	if err := s.Seal("obj", "writer"); err != nil {
		t.Fatal(err)
	}
	rloc := mustGet(t, s, "obj", "reader")
	r, err := reader.Bytes(rloc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r, data) {
		t.Fatal("reader Mapper does not see the writer's bytes")
	}
	sb, _ := s.Bytes(rloc)
	if !bytes.Equal(sb, data) {
		t.Fatal("Store mapping does not see the writer's bytes")
	}
	// Same memory: a later write through one view shows in the other.
	w[0] ^= 0xff
	if r[0] != w[0] || sb[0] != w[0] {
		t.Fatal("mappings are not shared")
	}
	// A second object in the same segment reuses the cached mapping.
	loc2 := put(t, s, "obj2", pattern(8, 1000), true)
	r2, err := reader.Bytes(loc2)
	if err != nil || !bytes.Equal(r2, pattern(8, 1000)) {
		t.Fatalf("second object: %v", err)
	}
	if len(reader.maps) != 1 {
		t.Errorf("reader has %d mappings, want 1", len(reader.maps))
	}
	// Bad locations.
	if _, err := reader.Bytes(Location{Path: loc.Path, Offset: 2 * mib, Size: 1}); err == nil {
		t.Error("out-of-range location accepted")
	}
	if _, err := reader.Bytes(Location{Path: filepath.Join(t.TempDir(), "none"), Size: 1}); err == nil {
		t.Error("missing file mapped")
	}
	if _, err := s.Bytes(Location{Path: "/elsewhere", Size: 1}); err == nil {
		t.Error("Store.Bytes of a foreign path")
	}
	if err := reader.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := reader.Bytes(loc); !errors.Is(err, ErrClosed) {
		t.Errorf("Bytes after Close: %v", err)
	}
}

func TestEvictSecondariesLRU(t *testing.T) {
	s := openStore(t, 1*mib)
	const size = 256 * kib
	for i, id := range []string{"a", "b", "c", "d"} {
		put(t, s, id, pattern(i, size), false)
	}
	// Touch a: b becomes the least recently used.
	mustGet(t, s, "a", "r")
	s.Release("a", "r")
	// Pin d: a pinned secondary is never evicted.
	mustGet(t, s, "d", "r")

	put(t, s, "e", pattern(9, size), false)
	if s.Contains("b") {
		t.Error("LRU secondary b not evicted")
	}
	for _, id := range []string{"a", "c", "d", "e"} {
		if !s.Contains(id) {
			t.Errorf("%s evicted", id)
		}
	}
	// Next LRU order: c (created), a (got), e (created); d is pinned.
	put(t, s, "f", pattern(10, size), false)
	if s.Contains("c") || !s.Contains("d") || !s.Contains("a") {
		t.Errorf("second eviction: c %v d %v a %v", s.Contains("c"), s.Contains("d"), s.Contains("a"))
	}
	put(t, s, "g", pattern(11, size), false)
	if s.Contains("a") || !s.Contains("d") {
		t.Error("third eviction should take a, not pinned d")
	}
	st := s.Stats()
	if st.Evictions != 3 || st.Spills != 0 || st.FallbackObjects != 0 {
		t.Errorf("stats: %+v", st)
	}
	// Survivors have their own bytes.
	for id, seed := range map[string]int{"d": 3, "e": 9, "f": 10, "g": 11} {
		loc := mustGet(t, s, id, "check")
		b, _ := s.Bytes(loc)
		if !bytes.Equal(b, pattern(seed, size)) {
			t.Errorf("%s content corrupted", id)
		}
	}
}

// TestSecondariesBeforePrimaries: secondaries are evicted before any
// primary is spilled, even when the primary is older.
func TestSecondariesBeforePrimaries(t *testing.T) {
	s := openStore(t, 1*mib)
	put(t, s, "p-old", pattern(1, 512*kib), true)
	put(t, s, "s-new", pattern(2, 512*kib), false)
	put(t, s, "x", pattern(3, 512*kib), true)
	if s.Contains("s-new") {
		t.Error("secondary kept")
	}
	if info, _ := s.Info("p-old"); info.Spilled {
		t.Error("primary spilled although a secondary could be evicted")
	}
	put(t, s, "y", pattern(4, 512*kib), true)
	if info, _ := s.Info("p-old"); !info.Spilled || info.Location != (Location{}) {
		t.Errorf("primary not spilled: %+v", info)
	}
	if st := s.Stats(); st.Evictions != 1 || st.Spills != 1 {
		t.Errorf("stats: %+v", st)
	}
}

func TestSpillPrimaries3x(t *testing.T) {
	const capacity = 4 * mib
	const size = 256 * kib
	const n = 3 * capacity / size
	s := openStore(t, capacity)
	reader := newMapper(t)
	for i := 0; i < n; i++ {
		put(t, s, fmt.Sprintf("obj-%02d", i), pattern(i, size), true)
	}
	st := s.Stats()
	if st.Spills == 0 || st.SpilledObjects == 0 || st.Evictions != 0 || st.FallbackObjects != 0 {
		t.Fatalf("after puts: %+v", st)
	}
	if st.SpilledObjects+int(st.Used/size) != n || st.Objects != n {
		t.Fatalf("objects not accounted for: %+v", st)
	}
	for round := 0; round < 2; round++ {
		for i := 0; i < n; i++ {
			id := fmt.Sprintf("obj-%02d", i)
			loc := mustGet(t, s, id, "reader")
			b, err := reader.Bytes(loc)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, pattern(i, size)) {
				t.Fatalf("round %d: %s content mismatch", round, id)
			}
			s.Release(id, "reader")
		}
	}
	st = s.Stats()
	if st.Restores == 0 || st.RestoreNanos <= 0 || st.SpillNanos <= 0 {
		t.Errorf("after gets: %+v", st)
	}
	if st.FallbackObjects != 0 || st.Evictions != 0 || st.Objects != n {
		t.Errorf("after gets: %+v", st)
	}
	// Spill files exist exactly for spilled objects.
	files, _ := os.ReadDir(s.cfg.SpillDir)
	if len(files) != st.SpilledObjects {
		t.Errorf("%d spill files, %d spilled objects", len(files), st.SpilledObjects)
	}
	// Deleting a spilled object removes its file.
	for _, info := range s.List() {
		if info.Spilled {
			s.Delete(info.ID)
		}
	}
	files, _ = os.ReadDir(s.cfg.SpillDir)
	if len(files) != 0 {
		t.Errorf("spill files left after deleting spilled objects: %d", len(files))
	}
}

// TestPinnedNeverMoved: pinned and unsealed objects stay put; a new object
// then goes to a fallback file.
func TestPinnedNeverMoved(t *testing.T) {
	s := openStore(t, 1*mib)
	client := newMapper(t)
	locA := put(t, s, "a", pattern(1, 512*kib), true)
	mustGet(t, s, "a", "reader") // pinned primary
	locB := put(t, s, "b", pattern(2, 256*kib), false)
	mustGet(t, s, "b", "reader") // pinned secondary
	// c: being written (unsealed).
	locC, err := s.Create("c", 256*kib, true, "writer")
	if err != nil {
		t.Fatal(err)
	}

	data := pattern(4, 300*kib)
	locD, err := s.Create("d", int64(len(data)), true, "writer2")
	if err != nil {
		t.Fatal(err)
	}
	if locD.Path == s.cfg.Path || locD.Offset != 0 {
		t.Fatalf("d not in a fallback file: %+v", locD)
	}
	if filepath.Dir(locD.Path) != s.cfg.SpillDir {
		t.Errorf("fallback file %s not in SpillDir", locD.Path)
	}
	w, err := client.Bytes(locD)
	if err != nil {
		t.Fatal(err)
	}
	copy(w, data)
	if err := s.Seal("d", "writer2"); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]Location{"a": locA, "b": locB, "c": locC} {
		info, _ := s.Info(id)
		if info.Spilled || info.Location != want {
			t.Errorf("%s moved: %+v", id, info)
		}
	}
	info, _ := s.Info("d")
	if !info.Fallback || info.Location != locD {
		t.Errorf("d: %+v", info)
	}
	st := s.Stats()
	if st.FallbackObjects != 1 || st.FallbackBytes != int64(len(data)) || st.Evictions != 0 || st.Spills != 0 {
		t.Errorf("stats: %+v", st)
	}
	// Another process reads d through its own mapping.
	other := newMapper(t)
	loc := mustGet(t, s, "d", "reader")
	r, err := other.Bytes(loc)
	if err != nil || !bytes.Equal(r, data) {
		t.Fatalf("fallback read: %v", err)
	}
	sb, _ := s.Bytes(loc)
	if !bytes.Equal(sb, data) {
		t.Fatal("store mapping of fallback differs")
	}
	// Freeing d removes its file; the mapper's mapping stays valid until
	// Forget.
	s.Release("d", "reader")
	s.Delete("d")
	if _, err := os.Stat(locD.Path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("fallback file not removed: %v", err)
	}
	if _, err := s.Bytes(locD); err == nil {
		t.Error("Store.Bytes of a freed fallback file")
	}
	if !bytes.Equal(r, data) {
		t.Error("mapper mapping changed after free")
	}
	r2, err := other.Bytes(loc)
	if err != nil || !bytes.Equal(r2, data) {
		t.Errorf("cached mapping: %v", err)
	}
	other.Forget(loc.Path)
	other.Forget(loc.Path)
	if _, err := other.Bytes(loc); err == nil {
		t.Error("Bytes after Forget of a removed file succeeded")
	}
	// Once the pins go, the room is made by moving objects again.
	s.Release("a", "reader")
	s.Release("b", "reader")
	locE := put(t, s, "e", pattern(5, 512*kib), true)
	if locE.Path != s.cfg.Path {
		t.Errorf("e in fallback although room could be made: %+v", locE)
	}
	if st := s.Stats(); st.Evictions != 1 || st.Spills != 1 {
		t.Errorf("stats: %+v", st)
	}
	// A re-created fallback object gets a fresh path.
	mustGet(t, s, "e", "p")
	seen := map[string]bool{locD.Path: true}
	for i := 0; i < 2; i++ {
		loc, err := s.Create("f", 600*kib, true, "w")
		if err != nil {
			t.Fatal(err)
		}
		if seen[loc.Path] || loc.Path == s.cfg.Path {
			t.Errorf("fallback path %s reused or not a fallback", loc.Path)
		}
		seen[loc.Path] = true
		s.Abort("f")
	}
}

func TestObjectTooLarge(t *testing.T) {
	s := openStore(t, 1*mib)
	put(t, s, "a", pattern(1, 100*kib), true)
	mustGet(t, s, "a", "r")
	before := s.Stats()
	list := s.List()
	spillFiles, _ := os.ReadDir(s.cfg.SpillDir)
	for _, size := range []int64{1 << 62, 1<<63 - 1} {
		if _, err := s.Create("huge", size, true, "w"); !errors.Is(err, ErrObjectTooLarge) {
			t.Fatalf("Create(%d): %v, want ErrObjectTooLarge", size, err)
		}
	}
	if after := s.Stats(); after != before {
		t.Errorf("stats changed:\n%+v\n%+v", before, after)
	}
	if !reflect.DeepEqual(s.List(), list) {
		t.Error("objects changed")
	}
	if files, _ := os.ReadDir(s.cfg.SpillDir); len(files) != len(spillFiles) {
		t.Error("files created")
	}
	if _, err := s.Create("neg", -1, true, "w"); err == nil {
		t.Error("negative size accepted")
	}
	if _, err := s.Create("", 1, true, "w"); err == nil {
		t.Error("empty ID accepted")
	}
	// Larger than the main segment but fits on disk: a fallback file.
	loc, err := s.Create("big", 2*mib, true, "w")
	if err != nil {
		t.Fatal(err)
	}
	if loc.Path == s.cfg.Path {
		t.Error("object larger than capacity in the main segment")
	}
	if info, _ := s.Info("a"); info.Spilled {
		t.Error("objects moved for an object that cannot fit anyway")
	}
}

func TestDeleteWhilePinned(t *testing.T) {
	s := openStore(t, 1*mib)
	data := pattern(1, 200*kib)
	loc := put(t, s, "a", data, true)
	mustGet(t, s, "a", "r1")
	mustGet(t, s, "a", "r2")
	s.Delete("a")
	if s.Contains("a") {
		t.Error("Contains after Delete")
	}
	if _, err := s.Get("a", "r3"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Delete: %v", err)
	}
	if err := s.WaitSealed(context.Background(), "a"); !errors.Is(err, ErrNotFound) {
		t.Errorf("WaitSealed after Delete: %v", err)
	}
	if _, err := s.Create("a", 10, true, "w"); !errors.Is(err, ErrObjectExists) {
		t.Errorf("Create while delete pending: %v", err)
	}
	// Still in memory for the readers that hold pins.
	b, _ := s.Bytes(loc)
	if !bytes.Equal(b, data) {
		t.Error("bytes changed while pinned")
	}
	if st := s.Stats(); st.Used == 0 || st.Objects != 1 {
		t.Errorf("stats: %+v", st)
	}
	s.Release("a", "r1")
	if _, ok := s.Info("a"); !ok {
		t.Fatal("freed before the last pin")
	}
	s.Release("a", "r2")
	if _, ok := s.Info("a"); ok {
		t.Error("not freed at the last Release")
	}
	if st := s.Stats(); st.Used != 0 || st.Objects != 0 {
		t.Errorf("stats: %+v", st)
	}

	// Delete of an unsealed object: freed when sealed.
	if _, err := s.Create("u", 100, true, "w"); err != nil {
		t.Fatal(err)
	}
	s.Delete("u")
	if _, ok := s.Info("u"); !ok {
		t.Fatal("unsealed object freed under its writer")
	}
	if err := s.Seal("u", "w"); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Info("u"); ok {
		t.Error("deleted object not freed at Seal")
	}
}

func TestReleaseAll(t *testing.T) {
	s := openStore(t, 1*mib)
	put(t, s, "a", pattern(1, 1000), true)
	put(t, s, "b", pattern(2, 1000), false)
	for i := 0; i < 3; i++ {
		mustGet(t, s, "a", "dead")
	}
	mustGet(t, s, "b", "dead")
	mustGet(t, s, "a", "alive")
	if _, err := s.Create("c", 1000, true, "dead"); err != nil { // being written by the dead one
		t.Fatal(err)
	}
	if _, err := s.Create("d", 1000, true, "alive"); err != nil {
		t.Fatal(err)
	}
	s.Delete("b") // freed when the dead holder's pin goes

	done := make(chan error, 1)
	go func() { done <- s.WaitSealed(context.Background(), "c") }()
	time.Sleep(10 * time.Millisecond)

	s.ReleaseAll("dead")
	if info, _ := s.Info("a"); info.Pins != 1 || info.Holders["alive"] != 1 || info.Holders["dead"] != 0 {
		t.Errorf("a: %+v", info)
	}
	if _, ok := s.Info("b"); ok {
		t.Error("deleted b not freed by ReleaseAll")
	}
	if _, ok := s.Info("c"); ok {
		t.Error("c, written by the dead holder, not aborted")
	}
	if err := <-done; !errors.Is(err, ErrNotFound) {
		t.Errorf("waiter on aborted object: %v", err)
	}
	if info, ok := s.Info("d"); !ok || info.Pins != 1 {
		t.Errorf("d: %+v", info)
	}
	s.ReleaseAll("nobody")
}

func TestWaitSealed(t *testing.T) {
	s := openStore(t, 1*mib)
	if err := s.WaitSealed(context.Background(), "unknown"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown: %v", err)
	}
	if _, err := s.Create("a", 100, true, "w"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := s.WaitSealed(ctx, "a"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("deadline: %v", err)
	}
	if time.Since(start) < 25*time.Millisecond {
		t.Error("returned before the deadline")
	}

	const waiters = 5
	errs := make(chan error, waiters)
	for i := 0; i < waiters; i++ {
		go func() { errs <- s.WaitSealed(context.Background(), "a") }()
	}
	time.Sleep(10 * time.Millisecond)
	if err := s.Seal("a", "w"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < waiters; i++ {
		if err := <-errs; err != nil {
			t.Errorf("waiter: %v", err)
		}
	}
	if err := s.WaitSealed(context.Background(), "a"); err != nil {
		t.Errorf("sealed: %v", err)
	}

	// Abort wakes waiters with ErrNotFound.
	if _, err := s.Create("b", 100, true, "w"); err != nil {
		t.Fatal(err)
	}
	go func() { errs <- s.WaitSealed(context.Background(), "b") }()
	time.Sleep(10 * time.Millisecond)
	s.Abort("b")
	if err := <-errs; !errors.Is(err, ErrNotFound) {
		t.Errorf("aborted: %v", err)
	}

	// Close wakes waiters with ErrClosed.
	if _, err := s.Create("c", 100, true, "w"); err != nil {
		t.Fatal(err)
	}
	go func() { errs <- s.WaitSealed(context.Background(), "c") }()
	time.Sleep(10 * time.Millisecond)
	s.Close()
	if err := <-errs; !errors.Is(err, ErrClosed) {
		t.Errorf("closed: %v", err)
	}
}

func TestConcurrent(t *testing.T) {
	s := openStore(t, 2*mib)
	const workers = 8
	const iters = 40
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			holder := fmt.Sprintf("worker-%d", w)
			m := NewMapper()
			defer m.Close()
			fail := func(format string, args ...any) {
				select {
				case errc <- fmt.Errorf("%s: "+format, append([]any{holder}, args...)...):
				default:
				}
			}
			var mine []string
			for i := 0; i < iters; i++ {
				id := fmt.Sprintf("%d-%d", w, i)
				seed := w*1000 + i
				size := (seed*7919)%(192*kib) + 1
				primary := i%3 != 0
				data := pattern(seed, size)
				loc, err := s.Create(id, int64(size), primary, holder)
				if err != nil {
					fail("Create %s: %v", id, err)
					return
				}
				b, err := m.Bytes(loc)
				if err != nil {
					fail("Bytes %s: %v", id, err)
					return
				}
				copy(b, data)
				if err := s.Seal(id, holder); err != nil {
					fail("Seal %s: %v", id, err)
					return
				}
				mine = append(mine, id)
				// Read back some earlier objects (maybe spilled or evicted).
				for _, j := range []int{i, i / 2, i - 3} {
					if j < 0 {
						continue
					}
					rid := fmt.Sprintf("%d-%d", w, j)
					rloc, err := s.Get(rid, holder)
					if errors.Is(err, ErrNotFound) && j%3 == 0 {
						continue // an evicted secondary
					}
					if err != nil {
						fail("Get %s: %v", rid, err)
						return
					}
					rb, err := m.Bytes(rloc)
					if err != nil {
						fail("Bytes %s: %v", rid, err)
						return
					}
					rseed := w*1000 + j
					if !bytes.Equal(rb, pattern(rseed, (rseed*7919)%(192*kib)+1)) {
						fail("%s content mismatch", rid)
					}
					s.Release(rid, holder)
				}
				_ = s.Stats()
				_ = s.List()
				if i%5 == 4 {
					s.Delete(mine[0])
					mine = mine[1:]
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	st := s.Stats()
	t.Logf("stats: %+v", st)
	for _, info := range s.List() {
		if info.Pins != 0 {
			t.Errorf("%s still pinned: %+v", info.ID, info)
		}
	}
}

func TestCloseRemovesFiles(t *testing.T) {
	s := openStore(t, 256*kib)
	put(t, s, "p1", pattern(1, 200*kib), true)
	put(t, s, "p2", pattern(2, 200*kib), true) // spills p1
	mustGet(t, s, "p2", "r")
	fb := put(t, s, "p3", pattern(3, 200*kib), true) // p2 pinned: fallback
	if st := s.Stats(); st.SpilledObjects != 1 || st.FallbackObjects != 1 {
		t.Fatalf("setup: %+v", st)
	}
	if fb.Path == s.cfg.Path {
		t.Fatal("p3 not in a fallback file")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := os.Stat(s.cfg.Path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("main segment left: %v", err)
	}
	files, err := os.ReadDir(s.cfg.SpillDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		t.Errorf("file left in SpillDir: %s", f.Name())
	}
	if _, err := s.Create("x", 1, true, "w"); !errors.Is(err, ErrClosed) {
		t.Errorf("Create after Close: %v", err)
	}
	if _, err := s.Get("p2", "r"); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close: %v", err)
	}
	if err := s.Seal("x", "w"); !errors.Is(err, ErrClosed) {
		t.Errorf("Seal after Close: %v", err)
	}
	if _, err := s.Bytes(fb); !errors.Is(err, ErrClosed) {
		t.Errorf("Bytes after Close: %v", err)
	}
	if err := s.WaitSealed(context.Background(), "p1"); !errors.Is(err, ErrClosed) {
		t.Errorf("WaitSealed after Close: %v", err)
	}
	s.Release("p2", "r")
	s.ReleaseAll("r")
	s.Delete("p1")
	s.Abort("p1")
	if s.Contains("p1") || len(s.List()) != 0 {
		t.Error("objects visible after Close")
	}
}

func TestFileName(t *testing.T) {
	for _, tc := range []struct{ id, want string }{
		{"abc123", "abc123"},
		{"a/b", "a%2Fb"},
		{".", "%2E"},
		{"..", "%2E%2E"},
		{"...", "..."},
		{"fallback-x", "%66allback-x"},
		{"x fallback-", "x%20fallback-"},
	} {
		if got := fileName(tc.id); got != tc.want {
			t.Errorf("fileName(%q) = %q, want %q", tc.id, got, tc.want)
		}
	}
	long := fileName(string(bytes.Repeat([]byte("/"), 300)))
	if len(long) > 200 {
		t.Errorf("long name not shortened: %d", len(long))
	}
}

// Special IDs work end to end (spill and fallback files stay in SpillDir).
func TestOddIDs(t *testing.T) {
	s := openStore(t, 64*kib)
	ids := []string{"../escape", "a/b/c", ".", "fallback-1"}
	for i, id := range ids {
		put(t, s, id, pattern(i, 60*kib), true) // each spills the previous
	}
	for i, id := range ids {
		loc := mustGet(t, s, id, "r")
		b, _ := s.Bytes(loc)
		if !bytes.Equal(b, pattern(i, 60*kib)) {
			t.Errorf("%q content mismatch", id)
		}
		s.Release(id, "r")
	}
	if entries, _ := os.ReadDir(filepath.Dir(s.cfg.SpillDir)); len(entries) != 2 {
		t.Errorf("files outside SpillDir: %v", entries)
	}
}

const benchSize = 64 * mib

// BenchmarkPut measures a put into the store: Create, copy of 64 MiB into
// the shared mapping, Seal, Delete. Compare its MB/s with BenchmarkMemcpy.
func BenchmarkPut(b *testing.B) {
	s := openStore(b, 2*benchSize)
	src := pattern(1, benchSize)
	b.SetBytes(benchSize)
	for i := 0; b.Loop(); i++ {
		id := fmt.Sprintf("obj-%d", i)
		loc, err := s.Create(id, benchSize, true, "w")
		if err != nil {
			b.Fatal(err)
		}
		dst, err := s.Bytes(loc)
		if err != nil {
			b.Fatal(err)
		}
		copy(dst, src)
		if err := s.Seal(id, "w"); err != nil {
			b.Fatal(err)
		}
		s.Delete(id)
	}
}

// BenchmarkMemcpy is the baseline: a 64 MiB copy between heap buffers.
func BenchmarkMemcpy(b *testing.B) {
	src := pattern(1, benchSize)
	dst := make([]byte, benchSize)
	copy(dst, src)
	b.SetBytes(benchSize)
	for b.Loop() {
		copy(dst, src)
	}
}

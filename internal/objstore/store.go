package objstore

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Errors returned by the Store.
var (
	ErrObjectTooLarge = errors.New("objstore: object larger than the store and the disk can hold")
	ErrObjectExists   = errors.New("objstore: object already exists")
	ErrNotFound       = errors.New("objstore: no such sealed object")
	ErrClosed         = errors.New("objstore: store closed")

	// ErrNoSpace is returned (wrapped) when an object would fit the store in
	// principle but nothing can be moved out of the way right now (the main
	// segment is pinned or being written) and the spill disk has not enough
	// free bytes for a fallback file. Unlike ErrObjectTooLarge it is
	// transient: retrying after pins are released may succeed.
	ErrNoSpace = errors.New("objstore: no room in the main segment and not enough free disk for a fallback file")
)

// Config configures a Store.
type Config struct {
	Path     string // main segment file; created (must not exist), removed on Close
	Capacity int64  // bytes of the main segment (rounded up to a multiple of Alignment)
	SpillDir string // created if missing; holds spill files and fallback files
}

// Location says where an object's bytes are: Size bytes at Offset in the
// file Path, which is either the main segment or a fallback file. Map it
// with a Mapper (other processes) or Store.Bytes (the owning process).
type Location struct {
	Path   string // file to map: the main segment or a fallback file
	Offset int64
	Size   int64
}

// ObjectInfo describes one object of the Store.
type ObjectInfo struct {
	ID         string
	Size       int64
	Primary    bool
	Sealed     bool
	Spilled    bool
	Fallback   bool
	Pins       int            // total reader pins (the creator's pin included until Seal)
	Holders    map[string]int // pins per holder
	LastAccess time.Time
	Location   Location // zero if spilled
}

// Stats is a snapshot of the Store's occupancy and counters.
type Stats struct {
	Capacity, Used int64 // main segment (Used counts aligned reservations)
	Objects        int   // every object: in memory, in fallback files, spilled, unsealed

	// Bytes (object sizes) of objects that are in memory: in the main
	// segment or in a fallback file.
	PrimaryBytes, SecondaryBytes int64

	SpilledObjects  int
	SpilledBytes    int64
	FallbackObjects int
	FallbackBytes   int64

	Evictions, Spills, Restores int64 // counters since Open
	SpillNanos, RestoreNanos    int64 // time spent spilling and restoring
	SpillBytes, RestoreBytes    int64 // bytes spilled and restored
}

// where an object's bytes are.
type placement uint8

const (
	inMain     placement = iota // main segment at off
	inFallback                  // its own file fbPath, mapped as fbMap
	spilled                     // in the file spillPath, not in memory
)

// slot is room for an object's bytes, in the main segment or in a
// fallback file.
type slot struct {
	where  placement
	off    int64
	fbPath string
	fbMap  []byte
}

type object struct {
	id      string
	size    int64
	primary bool
	sealed  bool
	deleted bool // Delete was called while pinned: free at the last unpin

	slot
	spillPath string

	creator    string
	pins       map[string]int
	npins      int
	lastAccess time.Time
	tick       uint64        // LRU order: higher is more recent
	sealedCh   chan struct{} // closed when sealed, or when freed unsealed
}

// Store is a node's shared-memory object store. All methods are safe for
// concurrent use.
type Store struct {
	cfg      Config
	capacity int64
	// file is the main segment, open for the Store's life with an
	// exclusive flock on it: the mark of a live owner (see liveness.go).
	file   *os.File
	fileID fileID

	mu       sync.Mutex
	closed   bool
	closedCh chan struct{}
	main     []byte
	alloc    *allocator
	objects  map[string]*object
	fallback map[string][]byte // fallback file path -> the Store's mapping
	tick     uint64
	fbSeq    uint64

	evictions, spills, restores int64
	spillNanos, restoreNanos    int64
	spillBytes, restoreBytes    int64
}

// Open creates the main segment file of cfg.Capacity bytes at cfg.Path
// (which must not exist), maps it, and creates cfg.SpillDir if missing.
func Open(cfg Config) (*Store, error) {
	if cfg.Path == "" {
		return nil, errors.New("objstore: Config.Path is empty")
	}
	if cfg.SpillDir == "" {
		return nil, errors.New("objstore: Config.SpillDir is empty")
	}
	if cfg.Capacity <= 0 || cfg.Capacity > math.MaxInt64-Alignment || uint64(cfg.Capacity) > uint64(math.MaxInt) {
		return nil, fmt.Errorf("objstore: bad capacity %d", cfg.Capacity)
	}
	if err := os.MkdirAll(cfg.SpillDir, 0o700); err != nil {
		return nil, fmt.Errorf("objstore: spill directory: %w", err)
	}
	capacity := alignUp(cfg.Capacity)
	f, id, err := createLocked(cfg.Path)
	if err != nil {
		return nil, err
	}
	if err := f.Truncate(capacity); err != nil {
		os.Remove(cfg.Path)
		f.Close()
		return nil, fmt.Errorf("objstore: main segment: %w", err)
	}
	m, err := syscall.Mmap(int(f.Fd()), 0, int(capacity), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		os.Remove(cfg.Path)
		f.Close()
		return nil, fmt.Errorf("objstore: mmap main segment: %w", err)
	}
	return &Store{
		cfg:      cfg,
		capacity: capacity,
		file:     f,
		fileID:   id,
		closedCh: make(chan struct{}),
		main:     m,
		alloc:    newAllocator(capacity),
		objects:  make(map[string]*object),
		fallback: make(map[string][]byte),
	}, nil
}

// Create makes room for a new object of size bytes and returns where the
// creator writes it. The object is pinned for holder until Seal (or Abort):
// it is never moved while being written. When the main segment is full,
// Create evicts unpinned sealed secondaries (LRU first), then spills
// unpinned sealed primaries (LRU first) to SpillDir, and if that cannot
// make room either it places the object in its own fallback file under
// SpillDir. It fails with ErrObjectTooLarge, leaving the store unchanged,
// if the object fits neither the main segment nor the free space of the
// spill disk, and with ErrObjectExists if id is present.
func (s *Store) Create(id string, size int64, primary bool, holder string) (Location, error) {
	if id == "" {
		return Location{}, errors.New("objstore: empty object ID")
	}
	if size < 0 {
		return Location{}, fmt.Errorf("objstore: negative size %d", size)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Location{}, ErrClosed
	}
	if _, ok := s.objects[id]; ok {
		return Location{}, ErrObjectExists
	}
	if size > s.capacity {
		free, err := s.diskFree()
		if err != nil {
			return Location{}, err
		}
		if size > free {
			return Location{}, ErrObjectTooLarge
		}
	}
	sl, err := s.place(id, size)
	if err != nil {
		return Location{}, err
	}
	o := &object{
		id:       id,
		size:     size,
		primary:  primary,
		slot:     sl,
		creator:  holder,
		pins:     map[string]int{holder: 1},
		npins:    1,
		sealedCh: make(chan struct{}),
	}
	s.touch(o)
	s.objects[id] = o
	return s.location(o), nil
}

// Seal marks the object readable, wakes WaitSealed callers, and drops the
// creator's pin (the one Create took; holder is expected to be the
// creator).
func (s *Store) Seal(id, holder string) error { return s.seal(id, false) }

// SealKeep seals the object as Seal does but keeps the creator's pin, as
// a pin like Get's that the creator drops with Release: a node that
// serves an object to others while it is still receiving it keeps the
// bytes in place across the seal, with no moment unpinned.
func (s *Store) SealKeep(id, holder string) error { return s.seal(id, true) }

func (s *Store) seal(id string, keep bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	o := s.objects[id]
	if o == nil {
		return ErrNotFound
	}
	if o.sealed {
		return fmt.Errorf("objstore: object %q already sealed", id)
	}
	o.sealed = true
	close(o.sealedCh)
	s.touch(o)
	if !keep {
		s.unpin(o, o.creator, 1)
	}
	return nil
}

// AbortBy drops an unsealed object if holder created it (a creator that
// gave up writing it, over the wire); it reports whether it did.
func (s *Store) AbortBy(id, holder string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o := s.objects[id]; o != nil && !o.sealed && o.creator == holder {
		s.free(o)
		return true
	}
	return false
}

// Abort drops an unsealed object (its creator gave up). Sealed or unknown
// objects are left alone.
func (s *Store) Abort(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o := s.objects[id]; o != nil && !o.sealed {
		s.free(o)
	}
}

// WaitSealed blocks until the object is sealed (nil), is aborted or
// deleted (ErrNotFound), the Store is closed (ErrClosed) or ctx is done
// (ctx.Err()). Unknown IDs give ErrNotFound at once.
func (s *Store) WaitSealed(ctx context.Context, id string) error {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return ErrClosed
		}
		o := s.objects[id]
		if o == nil || o.deleted {
			s.mu.Unlock()
			return ErrNotFound
		}
		if o.sealed {
			s.mu.Unlock()
			return nil
		}
		ch := o.sealedCh
		s.mu.Unlock()
		select {
		case <-ch:
		case <-s.closedCh:
			return ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Get pins a sealed object for holder and returns its location; the bytes
// there stay put until holder releases the pin. A spilled object is first
// restored into memory (making room as Create does). Unknown, unsealed and
// deleted objects give ErrNotFound.
func (s *Store) Get(id, holder string) (Location, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Location{}, ErrClosed
	}
	o := s.objects[id]
	if o == nil || !o.sealed || o.deleted {
		return Location{}, ErrNotFound
	}
	if o.where == spilled {
		if err := s.restore(o); err != nil {
			return Location{}, err
		}
	}
	o.pins[holder]++
	o.npins++
	s.touch(o)
	return s.location(o), nil
}

// Release drops one pin of holder on a sealed object. It does nothing if
// holder holds no pin. (The creator's pin on an unsealed object is
// dropped by Seal, Abort or ReleaseAll only.)
func (s *Store) Release(id, holder string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o := s.objects[id]; o != nil && o.sealed {
		s.unpin(o, holder, 1)
	}
}

// ReleaseAll drops every pin of holder (its process died). Unsealed
// objects that holder was creating are aborted: nobody can finish them.
func (s *Store) ReleaseAll(holder string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.objects {
		if !o.sealed && o.creator == holder {
			s.free(o)
			continue
		}
		if n := o.pins[holder]; n > 0 {
			s.unpin(o, holder, n)
		}
	}
}

// Delete says that nobody refers to the object any more. It is freed now
// if unpinned (a spilled object's spill file is removed), else it is
// hidden from Get and Contains and freed when the last pin goes (for an
// unsealed object: when it is sealed or aborted). Unknown IDs are ignored.
func (s *Store) Delete(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objects[id]
	if o == nil {
		return
	}
	if o.npins == 0 {
		s.free(o)
	} else {
		o.deleted = true
	}
}

// Contains reports whether id is a sealed object that is not deleted
// (in memory or spilled).
func (s *Store) Contains(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objects[id]
	return o != nil && o.sealed && !o.deleted
}

// Info describes an object, including unsealed ones and deleted ones still
// waiting for their last pin.
func (s *Store) Info(id string) (ObjectInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objects[id]
	if o == nil {
		return ObjectInfo{}, false
	}
	return s.info(o), true
}

// List describes every object, sorted by ID.
func (s *Store) List() []ObjectInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ObjectInfo, 0, len(s.objects))
	for _, o := range s.objects {
		out = append(out, s.info(o))
	}
	slices.SortFunc(out, func(a, b ObjectInfo) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Stats returns a snapshot of occupancy and counters.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{
		Capacity:     s.capacity,
		Used:         s.alloc.used,
		Objects:      len(s.objects),
		Evictions:    s.evictions,
		Spills:       s.spills,
		Restores:     s.restores,
		SpillNanos:   s.spillNanos,
		RestoreNanos: s.restoreNanos,
		SpillBytes:   s.spillBytes,
		RestoreBytes: s.restoreBytes,
	}
	for _, o := range s.objects {
		if o.where == spilled {
			st.SpilledObjects++
			st.SpilledBytes += o.size
			continue
		}
		if o.primary {
			st.PrimaryBytes += o.size
		} else {
			st.SecondaryBytes += o.size
		}
		if o.where == inFallback {
			st.FallbackObjects++
			st.FallbackBytes += o.size
		}
	}
	return st
}

// Bytes returns the Store's own mapping of loc (for the daemon itself,
// e.g. to serve transfers). The slice is valid while the object is pinned
// and the Store is open. A size of 0 gives nil.
func (s *Store) Bytes(loc Location) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if loc.Size == 0 && loc.Offset >= 0 {
		return nil, nil
	}
	var m []byte
	if loc.Path == s.cfg.Path {
		m = s.main
	} else if m = s.fallback[loc.Path]; m == nil {
		return nil, fmt.Errorf("objstore: %q is not a segment of this store", loc.Path)
	}
	return sliceOf(m, loc)
}

// Close unmaps everything and removes the main segment file, the fallback
// files and the spill files. Slices obtained from Bytes must not be used
// afterwards. Waiters get ErrClosed; other calls get ErrClosed or do
// nothing.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	close(s.closedCh)
	var errs []error
	for _, o := range s.objects {
		if o.where == spilled {
			if err := os.Remove(o.spillPath); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	for path, m := range s.fallback {
		if err := syscall.Munmap(m); err != nil {
			errs = append(errs, fmt.Errorf("objstore: munmap %s: %w", path, err))
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := syscall.Munmap(s.main); err != nil {
		errs = append(errs, fmt.Errorf("objstore: munmap main segment: %w", err))
	}
	// Remove the name under the lock, and only if it is still this
	// store's file (one that replaced it is someone else's), then let the
	// lock go with the descriptor.
	if id, err := statID(s.cfg.Path); err == nil && id == s.fileID {
		if err := os.Remove(s.cfg.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := s.file.Close(); err != nil {
		errs = append(errs, fmt.Errorf("objstore: closing the main segment: %w", err))
	}
	s.main = nil
	s.fallback = map[string][]byte{}
	s.objects = map[string]*object{}
	s.alloc = newAllocator(s.capacity)
	return errors.Join(errs...)
}

// --- internals; all called with s.mu held ---

func (s *Store) touch(o *object) {
	s.tick++
	o.tick = s.tick
	o.lastAccess = time.Now()
}

func (s *Store) location(o *object) Location {
	switch o.where {
	case inMain:
		return Location{Path: s.cfg.Path, Offset: o.off, Size: o.size}
	case inFallback:
		return Location{Path: o.fbPath, Size: o.size}
	}
	return Location{}
}

func (s *Store) info(o *object) ObjectInfo {
	h := make(map[string]int, len(o.pins))
	for k, v := range o.pins {
		h[k] = v
	}
	return ObjectInfo{
		ID:         o.id,
		Size:       o.size,
		Primary:    o.primary,
		Sealed:     o.sealed,
		Spilled:    o.where == spilled,
		Fallback:   o.where == inFallback,
		Pins:       o.npins,
		Holders:    h,
		LastAccess: o.lastAccess,
		Location:   s.location(o),
	}
}

// unpin drops n pins of holder and frees a deleted object at its last pin.
func (s *Store) unpin(o *object, holder string, n int) {
	have := o.pins[holder]
	if have == 0 {
		return
	}
	n = min(n, have)
	if have == n {
		delete(o.pins, holder)
	} else {
		o.pins[holder] = have - n
	}
	o.npins -= n
	if o.npins == 0 && o.deleted {
		s.free(o)
	}
}

// free forgets o and releases its memory, fallback file or spill file.
func (s *Store) free(o *object) {
	delete(s.objects, o.id)
	s.releaseSlot(o.slot, o.size)
	if o.where == spilled {
		os.Remove(o.spillPath)
	}
	if !o.sealed {
		close(o.sealedCh)
	}
}

// releaseSlot gives back room obtained from place.
func (s *Store) releaseSlot(sl slot, size int64) {
	switch sl.where {
	case inMain:
		s.alloc.release(sl.off, size)
	case inFallback:
		syscall.Munmap(sl.fbMap)
		delete(s.fallback, sl.fbPath)
		os.Remove(sl.fbPath)
	}
}

// slotBytes is the Store's mapping of a slot.
func (s *Store) slotBytes(sl slot, size int64) []byte {
	if size == 0 {
		return nil
	}
	if sl.where == inFallback {
		return sl.fbMap[:size:size]
	}
	return s.main[sl.off : sl.off+size : sl.off+size]
}

// place finds room for size bytes: in the main segment, making room there
// if it can, else in a fallback file.
func (s *Store) place(id string, size int64) (slot, error) {
	if size == 0 {
		return slot{where: inMain}, nil
	}
	if size <= s.capacity {
		if off, ok := s.alloc.alloc(size); ok {
			return slot{where: inMain, off: off}, nil
		}
		if s.makeRoom(size) {
			if off, ok := s.alloc.alloc(size); ok {
				return slot{where: inMain, off: off}, nil
			}
		}
	}
	return s.newFallback(id, size)
}

// makeRoom evicts unpinned sealed secondaries, then spills unpinned sealed
// primaries, least recently used first, until an allocation of size bytes
// fits in the main segment. It first simulates the frees on a copy of the
// allocator and does nothing at all if even moving every candidate would
// not make room (the object then goes to a fallback file without
// disturbing the cache).
func (s *Store) makeRoom(size int64) bool {
	var secondaries, primaries []*object
	for _, o := range s.objects {
		if o.where != inMain || !o.sealed || o.npins > 0 || o.size == 0 {
			continue
		}
		if o.primary {
			primaries = append(primaries, o)
		} else {
			secondaries = append(secondaries, o)
		}
	}
	byTick := func(a, b *object) int { return cmp.Compare(a.tick, b.tick) }
	slices.SortFunc(secondaries, byTick)
	slices.SortFunc(primaries, byTick)
	victims := secondaries
	if len(primaries) > 0 {
		// Spill only what the disk can take.
		free, err := s.diskFree()
		if err == nil {
			for _, p := range primaries {
				if p.size > free {
					break
				}
				free -= p.size
				victims = append(victims, p)
			}
		}
	}
	sim := s.alloc.clone()
	n := 0
	for n < len(victims) && !sim.canAlloc(size) {
		sim.release(victims[n].off, victims[n].size)
		n++
	}
	if !sim.canAlloc(size) {
		return false
	}
	for _, v := range victims[:n] {
		if !v.primary {
			s.free(v)
			s.evictions++
		} else if err := s.spill(v); err != nil {
			break
		}
	}
	return s.alloc.canAlloc(size)
}

// spill writes a main-segment object to its spill file and frees its
// memory.
func (s *Store) spill(o *object) error {
	start := time.Now()
	path := filepath.Join(s.cfg.SpillDir, fileName(o.id))
	if err := os.WriteFile(path, s.slotBytes(o.slot, o.size), 0o600); err != nil {
		os.Remove(path)
		return fmt.Errorf("objstore: spill %q: %w", o.id, err)
	}
	s.releaseSlot(o.slot, o.size)
	o.slot = slot{where: spilled}
	o.spillPath = path
	s.spills++
	s.spillBytes += o.size
	s.spillNanos += int64(time.Since(start))
	return nil
}

// restore reads a spilled object back into memory and removes its spill
// file.
func (s *Store) restore(o *object) error {
	start := time.Now()
	sl, err := s.place(o.id, o.size)
	if err != nil {
		return err
	}
	if err := readFile(o.spillPath, s.slotBytes(sl, o.size)); err != nil {
		s.releaseSlot(sl, o.size)
		return fmt.Errorf("objstore: restore %q: %w", o.id, err)
	}
	os.Remove(o.spillPath)
	o.slot = sl
	o.spillPath = ""
	s.restores++
	s.restoreBytes += o.size
	s.restoreNanos += int64(time.Since(start))
	return nil
}

func readFile(path string, dst []byte) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.ReadFull(f, dst)
	return err
}

// newFallback creates, sizes and maps a file of its own for an object.
func (s *Store) newFallback(id string, size int64) (slot, error) {
	if uint64(size) > uint64(math.MaxInt) {
		return slot{}, ErrObjectTooLarge
	}
	free, err := s.diskFree()
	if err != nil {
		return slot{}, err
	}
	if size > free {
		return slot{}, fmt.Errorf("%w (%d bytes wanted, %d free in %s)", ErrNoSpace, size, free, s.cfg.SpillDir)
	}
	s.fbSeq++
	// The sequence number keeps paths unique across incarnations of an ID
	// (a secondary evicted and fetched again): client Mappers cache
	// mappings by path.
	path := filepath.Join(s.cfg.SpillDir, "fallback-"+fileName(id)+"-"+strconv.FormatUint(s.fbSeq, 10))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return slot{}, fmt.Errorf("objstore: fallback file: %w", err)
	}
	defer f.Close()
	fail := func(err error) (slot, error) {
		os.Remove(path)
		return slot{}, fmt.Errorf("objstore: fallback file: %w", err)
	}
	// Reserve the blocks so that writing through the mapping cannot hit
	// SIGBUS on a full disk; fall back to a sparse file where unsupported.
	if err := syscall.Fallocate(int(f.Fd()), 0, 0, size); err != nil {
		if !errors.Is(err, syscall.EOPNOTSUPP) && !errors.Is(err, syscall.ENOSYS) {
			return fail(err)
		}
		if err := f.Truncate(size); err != nil {
			return fail(err)
		}
	}
	m, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return fail(err)
	}
	s.fallback[path] = m
	return slot{where: inFallback, fbPath: path, fbMap: m}, nil
}

// diskFree returns the bytes available to us on SpillDir's filesystem.
func (s *Store) diskFree() (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(s.cfg.SpillDir, &st); err != nil {
		return 0, fmt.Errorf("objstore: statfs %s: %w", s.cfg.SpillDir, err)
	}
	free := st.Bavail * uint64(st.Bsize)
	if st.Bsize != 0 && free/uint64(st.Bsize) != st.Bavail || free > math.MaxInt64 {
		return math.MaxInt64, nil
	}
	return int64(free), nil
}

// sliceOf returns loc's bytes within mapping m, capacity-limited.
func sliceOf(m []byte, loc Location) ([]byte, error) {
	if loc.Offset < 0 || loc.Size < 0 || loc.Offset > int64(len(m)) || loc.Size > int64(len(m))-loc.Offset {
		return nil, fmt.Errorf("objstore: location [%d, +%d) outside %s (%d bytes)", loc.Offset, loc.Size, loc.Path, len(m))
	}
	if loc.Size == 0 {
		return nil, nil
	}
	end := loc.Offset + loc.Size
	return m[loc.Offset:end:end], nil
}

// fileName turns an object ID into a safe file name: bytes other than
// [A-Za-z0-9._-] are %XX-escaped, names that would be "." or ".." or start
// with "fallback-" (reserved for fallback files) are escaped too, and very
// long names are shortened with a hash.
func fileName(id string) string {
	const hexdigits = "0123456789ABCDEF"
	b := make([]byte, 0, len(id))
	for i := 0; i < len(id); i++ {
		c := id[i]
		safe := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.'
		if i == 0 && (id == "." || id == ".." || len(id) >= 9 && id[:9] == "fallback-") {
			safe = false
		}
		if safe {
			b = append(b, c)
		} else {
			b = append(b, '%', hexdigits[c>>4], hexdigits[c&15])
		}
	}
	if id == ".." {
		b = append(b[:3], "%2E"...)
	}
	if len(b) > 160 {
		sum := sha256.Sum256([]byte(id))
		b = append(b[:100], '~')
		b = append(b, hex.EncodeToString(sum[:16])...)
	}
	return string(b)
}

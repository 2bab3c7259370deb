// Package objstore is a node's shared-memory object store, in the style of
// Ray's plasma store.
//
// # Segments
//
// The node daemon owns a Store. Its main segment is one file (typically
// /dev/shm/rayo-<nodeid>-<pid>, so that it lives in memory) of Config.Capacity
// bytes, sized with ftruncate and mapped MAP_SHARED read-write. Every
// process of the node maps the same file, found by path, with a Mapper and
// reads and writes object bytes in place: a put is one copy into shared
// memory, a get is no copy at all. The Store does no RPC of its own; the
// daemon calls it and tells clients Locations (path, offset, size).
//
// Space in the main segment is handed out by a best-fit allocator over a
// free list sorted by offset; freeing coalesces with both neighbours.
// Offsets and reserved sizes are multiples of Alignment (64 bytes).
// Objects of size 0 reserve nothing (their Location has size 0, and
// Mapper.Bytes gives nil for it).
//
// # Liveness and stale files
//
// The owning Store holds an exclusive flock on its main segment file for
// its whole life; clients map the file but never lock it. A file nobody
// holds the lock of belongs to a process that died (the kernel drops the
// lock however a process ends, kill -9 included, and whatever PID
// namespace it ran in): RemoveStale and SweepStale remove such files, and
// only those (SegmentPath names them rayo-<node ID>-<pid>; the pid is for
// people, never asked). Store.CheckSegment tells the owner when its file
// was removed or replaced, after which new clients could not map the
// store. The rules are in liveness.go.
//
// # Objects, pins, primaries and secondaries
//
// An object is created (Create), written by its creator, then sealed
// (Seal), after which it is immutable and readable. Create pins the object
// for the creating holder until Seal, so an object being written never
// moves; Abort drops an unsealed object. Readers that race with the writer
// call WaitSealed, then Get.
//
// Get pins the object for a holder (an opaque string such as a worker ID;
// pins are counted per holder) and Release drops one pin; ReleaseAll drops
// every pin of a holder whose process died, and aborts the unsealed objects
// it was creating. A pinned object is never evicted, spilled or moved, so
// the slice a reader maps stays valid, and its contents unchanged, for as
// long as the reader holds its pin. After the pin is released the memory
// may be reused for another object at any time: readers must not keep
// slices past Release.
//
// A primary object is the owner's primary copy: it may be spilled to disk
// but is never evicted. A secondary object is a cached copy of an object
// whose primary lives elsewhere: it may be evicted (dropped) at any time
// when unpinned. Delete is the owner's word that nobody refers to the
// object any more: it is freed at once if unpinned, else hidden from Get
// and Contains and freed when its last pin goes.
//
// # Making room, spilling and fallback
//
// When Create (or a restore) finds no room in the main segment it makes
// room by moving unpinned sealed objects away, least recently used
// (last Create, Seal or Get) first: first it evicts secondaries, then it
// spills primaries, writing their bytes to <SpillDir>/<id> and freeing
// their memory. A spilled primary is restored by the next Get (allocated
// with the same rules, read back, spill file removed), transparently for
// the caller. The Store first simulates the frees, so it disturbs nothing
// when even moving every candidate would not make room.
//
// If the room cannot be made (all that is left is pinned or being
// written), the object falls back to a file of its own,
// <SpillDir>/fallback-<id>-<n> (blocks reserved with fallocate, mapped like
// the main segment), as Ray's fallback allocator does: a put does not fail
// while the spill disk has room. The suffix n makes every fallback path
// unique, so a Mapper's cached mapping can never be of a stale file.
// Create fails with ErrObjectTooLarge, leaving the store unchanged, only if
// the object fits neither the main segment nor the free space of the spill
// disk.
//
// # Zero-copy validity
//
// A slice from Mapper.Bytes or Store.Bytes aliases shared memory. It is
// valid, and shows the sealed contents, while the holder's pin on the
// object is held (for the creator: from Create until Seal). For a fallback
// file the Store unmaps and removes the file when the object is freed, but
// a Mapper's mapping of it stays valid until Mapper.Forget or Mapper.Close.
// Store.Close unmaps everything and removes the main segment (if its name
// still leads to the Store's file), the fallback files and the spill files.
//
// # Concurrency
//
// Every method of Store and Mapper is safe for concurrent use. Each has
// one mutex, and both are leaves: neither takes another lock while holding
// its own, and a Store never uses a Mapper.
//
// Store.mu guards everything of the Store: objects, the allocator, the
// fallback mappings, the counters. It is held across file system work, on
// purpose (simple and correct, at the price of stalling other calls of
// this store meanwhile): spill writes and restore reads, making a fallback
// file (create, fallocate, mmap) and freeing one (munmap, remove),
// statfs of the spill disk, CheckSegment's stat, and Close. WaitSealed
// waits without it. Its callers hold no lock of theirs across a call that
// may spill or restore (Create, Get); the node daemon's object directory
// lock is held only across Contains and Info (see internal/node).
//
// Mapper.mu (a RWMutex) guards the mappings: Bytes reads them under the
// read lock; mapping a file (open, fstat, mmap) happens under the write
// lock, so that a path is mapped once; Forget and Close munmap under it.
package objstore

package objstore

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
)

// Mapper is for client processes: it maps segment files (the main segment
// and fallback files) read-write, MAP_SHARED, on first use and caches the
// mappings by path, so that reading or writing an object is a slice of
// memory shared with the Store and every other process of the node.
//
// A mapping stays valid until Forget(path) or Close, even if the Store
// frees the object and removes the file meanwhile (the kernel keeps an
// unlinked file's pages while they are mapped). Call Forget for a fallback
// file once its object is released to give that memory back. The Store
// never reuses a fallback path, so a cached mapping is never stale.
//
// All methods are safe for concurrent use.
type Mapper struct {
	mu     sync.RWMutex
	maps   map[string][]byte
	closed bool
}

// NewMapper returns an empty Mapper.
func NewMapper() *Mapper {
	return &Mapper{maps: make(map[string][]byte)}
}

// Bytes returns loc's bytes: a slice of the mapping of loc.Path with
// len == cap == loc.Size (nil for size 0, without mapping anything). The
// file is mapped on first use. The slice is valid while the caller holds
// a pin on the object (and until Forget or Close of its path).
func (m *Mapper) Bytes(loc Location) ([]byte, error) {
	if loc.Size == 0 && loc.Offset >= 0 {
		return nil, nil
	}
	m.mu.RLock()
	data, ok := m.maps[loc.Path]
	closed := m.closed
	m.mu.RUnlock()
	if closed {
		return nil, ErrClosed
	}
	if !ok {
		var err error
		if data, err = m.mapPath(loc.Path); err != nil {
			return nil, err
		}
	}
	return sliceOf(data, loc)
}

func (m *Mapper) mapPath(path string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	if data, ok := m.maps[path]; ok {
		return data, nil
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("objstore: map segment: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("objstore: map segment: %w", err)
	}
	if fi.Size() <= 0 || uint64(fi.Size()) > uint64(^uint(0)>>1) {
		return nil, fmt.Errorf("objstore: map segment %s: bad size %d", path, fi.Size())
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(fi.Size()), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("objstore: mmap %s: %w", path, err)
	}
	m.maps[path] = data
	return data, nil
}

// Forget unmaps path if it is mapped. Slices obtained for it must not be
// used afterwards.
func (m *Mapper) Forget(path string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if data, ok := m.maps[path]; ok {
		delete(m.maps, path)
		syscall.Munmap(data)
	}
}

// Close unmaps everything (call at process shutdown). Slices obtained from
// Bytes must not be used afterwards; later calls of Bytes fail with
// ErrClosed.
func (m *Mapper) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	var errs []error
	for path, data := range m.maps {
		if err := syscall.Munmap(data); err != nil {
			errs = append(errs, fmt.Errorf("objstore: munmap %s: %w", path, err))
		}
	}
	m.maps = map[string][]byte{}
	return errors.Join(errs...)
}

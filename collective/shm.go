package collective

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// The shared-memory transport, which Join picks when every member of the
// group runs on one host. The members map one file, which rank 0 creates
// and every member unlinks as soon as all have mapped it (so that nothing
// outlives the processes, whatever their end):
//
//	[0, 4096)        header: magic u64 | size u32 | 0 u32 | half u64 | ... | abort u32 at 64
//	n × 256 bytes    control block of rank r, at 4096 + 256r:
//	                   [0, 64)    step u32: barriers r has passed (its own cache line)
//	                   [64, 128)  wake u32 (r's futex word), sleeping u32 (r sleeps on it)
//	                   [128, 192) two frame headers (wire.go): r's operation seq%2
//	n × 2 × half     slot of rank r, two halves of half bytes, at dataOff + 2r·half
//
// An operation moves the buffers through the slots in pieces of at most
// one half, so memory stays bounded whatever the buffers' size: a member
// copies its piece into its slot, all meet at a barrier (each publishes
// step+1 and waits until every other's step has reached it), then each
// reads the others' slots directly (shm_ops.go). Pieces alternate between
// the two halves: a member writes a half again only two pieces later,
// after a barrier that every member passes only once it has finished
// reading that half, so one barrier per piece is enough where the
// operation needs no second. Headers alternate by operation for the same
// reason; every operation checks the others' header at its first barrier,
// so members that disagree get ErrMismatch before reading anything.
//
// Waiting: spin (yielding the thread) for spinFor, then sleep on the
// waiter's own futex word. A member that publishes wakes those that
// announced sleeping; ctx's end, Close and a failure anywhere bump the
// word too (wakeup), so a waiter whose word moved since it last looked
// does not sleep at all: no wakeup is lost.
//
// Liveness: the TCP ring Join built stays open but silent. A dead process
// closes its sockets; its ring neighbours see that (watch), and any member
// that fails or closes sets the segment's abort word with its rank, which
// every waiter checks: a killed member makes the others fail with
// ErrPeerLost naming it, not hang.
const (
	shmMagic    = 0x314d48534c4f4352 // "RCOLSHM1"
	shmHdrSize  = 4096
	shmCtrlSize = 256
	offAbort    = 64
	ctrlStep    = 0
	ctrlWake    = 64
	ctrlSleep   = 68
	ctrlHdr     = 128

	// defaultShmPiece is the default size of half a member's slot: the
	// largest piece of a buffer that moves at once, so a member's share
	// of the segment is 2 MiB whatever the buffers. From 256 KiB to 4 MiB
	// it made no difference to BenchmarkAllReduceSizes (the slots are
	// written with streaming stores, so their size is not a cache's).
	defaultShmPiece = 1 << 20
	// spinFor is how long a waiter spins before it sleeps.
	spinFor = 50 * time.Microsecond
	// maxSleep bounds one sleep, to re-check a deadline.
	maxSleep = 100 * time.Millisecond
)

// errNoShm: the segment could not be created, opened or checked; the group
// stays on TCP. Never returned by the API.
var errNoShm = errors.New("collective: no shared memory")

// errClosedWait ends a wait when the Comm is closed (run wraps it in
// ErrClosed).
var errClosedWait = errors.New("closed while waiting")

// shmSeg is one member's mapping of the group's segment.
type shmSeg struct {
	mem     []byte
	n, rank int
	half    int // bytes
	dataOff int
	steps   uint32 // barriers this member has passed
	pieces  uint64 // pieces moved: piece k uses half k%2

	// The operation in progress (ops run one at a time, under Comm.mu).
	group    string
	kind     uint8
	hdr      frameHdr
	checked  bool // the peers' headers of this operation were compared
	ctx      context.Context
	deadline time.Time
	closed   *atomic.Bool
}

func shmLayout(n, half int) (dataOff, size int) {
	dataOff = shmHdrSize + n*shmCtrlSize
	dataOff = (dataOff + 4095) &^ 4095
	return dataOff, dataOff + 2*n*half
}

// createSeg creates, sizes and maps the segment (rank 0). The file is
// new (O_EXCL: its name is derived from a fresh secret) and private to the
// user (0600); its memory is allocated at once (reserve).
func createSeg(path string, n, half int) (*shmSeg, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errNoShm, err)
	}
	defer f.Close()
	dataOff, size := shmLayout(n, half)
	if err := f.Truncate(int64(size)); err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("%w: %w", errNoShm, err)
	}
	if err := reserve(f, size); err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("%w: allocate %d bytes: %w", errNoShm, size, err)
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("%w: mmap: %w", errNoShm, err)
	}
	binary.LittleEndian.PutUint64(mem[0:], shmMagic)
	binary.LittleEndian.PutUint32(mem[8:], uint32(n))
	binary.LittleEndian.PutUint64(mem[16:], uint64(half))
	return &shmSeg{mem: mem, n: n, rank: 0, half: half, dataOff: dataOff}, nil
}

// openSeg maps the segment rank 0 created (the other ranks, after a
// barrier that follows its creation) and checks its header.
func openSeg(path string, n, rank int) (*shmSeg, error) {
	f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errNoShm, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() || st.Size() < shmHdrSize {
		return nil, fmt.Errorf("%w: %s is not a segment", errNoShm, path)
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, int(st.Size()), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("%w: mmap: %w", errNoShm, err)
	}
	half := int(binary.LittleEndian.Uint64(mem[16:]))
	dataOff, size := shmLayout(n, half)
	if binary.LittleEndian.Uint64(mem[0:]) != shmMagic || int(binary.LittleEndian.Uint32(mem[8:])) != n ||
		half <= 0 || size != len(mem) {
		syscall.Munmap(mem)
		return nil, fmt.Errorf("%w: %s has another layout", errNoShm, path)
	}
	return &shmSeg{mem: mem, n: n, rank: rank, half: half, dataOff: dataOff}, nil
}

func (s *shmSeg) unmap() {
	if s.mem != nil {
		_ = syscall.Munmap(s.mem)
		s.mem = nil
	}
}

func (s *shmSeg) word(off int) *uint32 { return (*uint32)(unsafe.Pointer(&s.mem[off])) }
func (s *shmSeg) ctrl(r, off int) *uint32 {
	return s.word(shmHdrSize + r*shmCtrlSize + off)
}
func (s *shmSeg) hdrBytes(r int, seq uint64) []byte {
	off := shmHdrSize + r*shmCtrlSize + ctrlHdr + int(seq%2)*hdrSize
	return s.mem[off : off+hdrSize]
}

// slotOf is half h of rank p's slot, as elements of T.
func slotOf[T Float](s *shmSeg, p, h int) []T {
	off := s.dataOff + (2*p+h)*s.half
	return unsafe.Slice((*T)(unsafe.Pointer(&s.mem[off])), s.half/int(unsafe.Sizeof(T(0))))
}

// start begins an operation (Comm.runShm has set ctx and the deadline):
// it writes the member's header for the others to compare at the first
// barrier.
func (s *shmSeg) start(h frameHdr) {
	s.hdr, s.checked = h, false
	h.put(s.hdrBytes(s.rank, h.seq))
}

// nextHalf is the half the next piece uses.
func (s *shmSeg) nextHalf() int {
	h := int(s.pieces % 2)
	s.pieces++
	return h
}

// sync is a barrier of the operation; the first one also checks that
// every other member runs the same operation.
func (s *shmSeg) sync() error {
	s.steps++
	atomic.StoreUint32(s.ctrl(s.rank, ctrlStep), s.steps)
	for p := range s.n {
		if p != s.rank && atomic.LoadUint32(s.ctrl(p, ctrlSleep)) != 0 {
			s.wakeup(p)
		}
	}
	for i := 1; i < s.n; i++ {
		if err := s.waitStep((s.rank+i)%s.n, s.steps); err != nil {
			return err
		}
	}
	if s.checked {
		return nil
	}
	s.checked = true
	for i := 1; i < s.n; i++ {
		p := (s.rank + i) % s.n
		var got frameHdr
		got.get(s.hdrBytes(p, s.hdr.seq))
		if d := s.hdr.diff(&got); d != "" {
			return &RankError{Group: s.group, Op: opName(s.kind), Rank: p, Kind: ErrMismatch, Cause: errors.New(d)}
		}
	}
	return nil
}

// waitStep returns when rank p has passed barrier target, or an error:
// this Comm closed, ctx ended, a member failed or left (abort), or the
// operation's deadline passed (ErrTimeout naming p).
func (s *shmSeg) waitStep(p int, target uint32) error {
	step := s.ctrl(p, ctrlStep)
	// Wrap-safe: members are never more than one barrier apart.
	reached := func() bool { return int32(atomic.LoadUint32(step)-target) >= 0 }
	if reached() {
		return nil
	}
	// Spin, yielding: members in one process (and the peer's own
	// goroutines) need the thread; a Gosched with nothing else to run is
	// as short as a spin.
	start := time.Now()
	for i := 1; ; i++ {
		if reached() {
			return nil
		}
		if i%32 == 0 && time.Since(start) > spinFor {
			break
		}
		runtime.Gosched()
	}
	wake, sleeping := s.ctrl(s.rank, ctrlWake), s.ctrl(s.rank, ctrlSleep)
	for {
		seen := atomic.LoadUint32(wake)
		if reached() {
			return nil
		}
		if err := s.interrupted(p); err != nil {
			if reached() { // what it published before it left
				return nil
			}
			return err
		}
		// Announce the sleep, then look again: a publisher stores its
		// step before it reads sleeping, so one of the two sees the other.
		atomic.StoreUint32(sleeping, 1)
		if reached() {
			atomic.StoreUint32(sleeping, 0)
			return nil
		}
		futexWait(wake, seen, min(time.Until(s.deadline), maxSleep))
		atomic.StoreUint32(sleeping, 0)
	}
}

func (s *shmSeg) interrupted(p int) error {
	switch {
	case s.closed.Load():
		return errClosedWait
	case s.ctx.Err() != nil:
		return s.ctx.Err()
	}
	if a := atomic.LoadUint32(s.word(offAbort)); a != 0 {
		return &RankError{Group: s.group, Op: opName(s.kind), Rank: int(a) - 1, Kind: ErrPeerLost,
			Cause: errors.New("the member failed, closed or died")}
	}
	if !time.Now().Before(s.deadline) {
		return &RankError{Group: s.group, Op: opName(s.kind), Rank: p, Kind: ErrTimeout,
			Cause: errors.New("waited for it at a barrier")}
	}
	return nil
}

// wakeup wakes rank r if it sleeps, or makes its next sleep return.
func (s *shmSeg) wakeup(r int) {
	w := s.ctrl(r, ctrlWake)
	atomic.AddUint32(w, 1)
	futexWake(w)
}

// abort tells every member that rank failed, left or died (the first
// report wins) and wakes them.
func (s *shmSeg) abort(rank int) {
	atomic.CompareAndSwapUint32(s.word(offAbort), 0, uint32(rank)+1)
	for r := range s.n {
		s.wakeup(r)
	}
}

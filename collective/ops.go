package collective

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"
	"unsafe"
)

// Op is a reduction.
type Op uint8

// The reductions (torch.distributed.ReduceOp's SUM, AVG, MIN, MAX).
const (
	Sum Op = iota + 1
	Mean
	Min
	Max
)

func (op Op) valid() bool { return op >= Sum && op <= Max }

const (
	opJoin uint8 = iota + 1
	opAllReduce
	opBroadcast
	opAllGather
	opReduceScatter
	opBarrier
)

func opName(k uint8) string {
	switch k {
	case opJoin:
		return "join"
	case opAllReduce:
		return "allreduce"
	case opBroadcast:
		return "broadcast"
	case opAllGather:
		return "allgather"
	case opReduceScatter:
		return "reducescatter"
	case opBarrier:
		return "barrier"
	}
	return fmt.Sprintf("op%d", k)
}

// ioError is an I/O failure on the connection to rank.
type ioError struct {
	rank int
	err  error
}

func (e *ioError) Error() string { return e.err.Error() }
func (e *ioError) Unwrap() error { return e.err }

// run runs one operation: it takes the Comm, bounds the operation by
// timeout and ctx (through the connections' deadlines, or the segment's
// waits), and turns a failure into the package's errors, leaving the Comm
// broken.
func (c *Comm) run(ctx context.Context, kind uint8, timeout time.Duration, fn func() error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed.Load():
		return fmt.Errorf("%w: %s", ErrClosed, opName(kind))
	case c.broken != nil:
		return fmt.Errorf("%w: %w", ErrBroken, c.broken)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("collective: %s: %w", opName(kind), err)
	}
	c.seq++
	if c.size == 1 {
		return fn()
	}
	dl := time.Now().Add(timeout)
	if c.shm != nil {
		return c.runShm(ctx, kind, dl, fn)
	}
	_ = c.next.SetDeadline(dl)
	_ = c.prev.SetDeadline(dl)
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		past := time.Unix(1, 0)
		_ = c.next.SetDeadline(past)
		_ = c.prev.SetDeadline(past)
		close(fired)
	})
	err := fn()
	if !stop() {
		<-fired
	}
	if err == nil {
		return nil
	}
	err = c.classify(ctx, kind, err)
	c.broken = err
	c.closeConns()
	return err
}

// runShm is run's part for the shared segment: the waits in the segment
// watch ctx (woken by it), the deadline and the abort word; a failure is
// told to every member through the abort word, and to the neighbours by
// closing the connections, as over TCP.
func (c *Comm) runShm(ctx context.Context, kind uint8, dl time.Time, fn func() error) error {
	s := c.shm
	s.ctx, s.deadline, s.kind = ctx, dl, kind
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		s.wakeup(s.rank)
		close(fired)
	})
	err := fn()
	if !stop() {
		<-fired // it touches the mapping, which Close may unmap once we return
	}
	if err == nil {
		return nil
	}
	err = c.classify(ctx, kind, err)
	c.broken = err
	s.abort(c.rank)
	c.closeConns()
	return err
}

// hdrOf is the header of this operation (seq) with the caller's fields.
func hdrOf[T Float](c *Comm, kind uint8, param uint32, total int) frameHdr {
	return frameHdr{kind: kind, esz: uint8(unsafe.Sizeof(T(0))), param: param, seq: c.seq, total: uint64(total)}
}

func (c *Comm) classify(ctx context.Context, kind uint8, err error) error {
	if c.closed.Load() {
		return fmt.Errorf("%w: %s: %w", ErrClosed, opName(kind), err)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("collective: %s: %w", opName(kind), ctx.Err())
	}
	var ie *ioError
	if !errors.As(err, &ie) {
		return err // already one of ours (ErrMismatch)
	}
	k := ErrPeerLost
	if errors.Is(ie.err, os.ErrDeadlineExceeded) {
		k = ErrTimeout
	}
	return &RankError{Group: c.group, Op: opName(kind), Rank: ie.rank, Kind: k, Cause: ie.err}
}

func (c *Comm) nextRank() int { return (c.rank + 1) % c.size }
func (c *Comm) prevRank() int { return (c.rank + c.size - 1) % c.size }

// send writes one frame to rank+1.
func (c *Comm) send(h *frameHdr, payload []byte) error {
	var hb [hdrSize]byte
	h.put(hb[:])
	_, err := c.w.Write(hb[:])
	if err == nil {
		_, err = c.w.Write(payload)
	}
	if err == nil {
		err = c.w.Flush()
	}
	if err != nil {
		c.closeConns() // unblocks the receiving side
		return &ioError{rank: c.nextRank(), err: err}
	}
	return nil
}

// recvHdr reads a frame's header from rank-1 and checks it against want.
func (c *Comm) recvHdr(want *frameHdr) error {
	var hb [hdrSize]byte
	if err := readFull(c.r, hb[:]); err != nil {
		return &ioError{rank: c.prevRank(), err: err}
	}
	var got frameHdr
	got.get(hb[:])
	if d := want.diff(&got); d != "" {
		return &RankError{Group: c.group, Op: opName(want.kind), Rank: c.prevRank(), Kind: ErrMismatch, Cause: errors.New(d)}
	}
	return nil
}

// recvInto reads the payload straight into dst.
func (c *Comm) recvInto(b []byte) error {
	if err := readFull(c.r, b); err != nil {
		return &ioError{rank: c.prevRank(), err: err}
	}
	return nil
}

const scratchBytes = 256 << 10

// recvReduce reads len(dst) floats and reduces them into dst, through the
// scratch buffer in pieces.
func recvReduce[T Float](c *Comm, dst []T, op Op) error {
	if c.scratch == nil {
		c.scratch = make([]uint64, scratchBytes/8)
	}
	per := scratchBytes / int(unsafe.Sizeof(T(0)))
	src := unsafe.Slice((*T)(unsafe.Pointer(&c.scratch[0])), per)
	for len(dst) > 0 {
		n := min(len(dst), per)
		if err := c.recvInto(asBytes(src[:n])); err != nil {
			return err
		}
		reduce(op, dst[:n], src[:n])
		dst = dst[n:]
	}
	return nil
}

// exchange sends a frame to rank+1 while it receives one from rank-1
// (sequentially, two large sends would fill both ways' buffers and block
// every member); recv consumes the payload after the header is checked.
func (c *Comm) exchange(sh *frameHdr, payload []byte, want *frameHdr, recv func() error) error {
	sent := make(chan error, 1)
	go func() { sent <- c.send(sh, payload) }()
	rerr := c.recvHdr(want)
	if rerr == nil {
		rerr = recv()
	}
	if rerr != nil {
		c.closeConns() // unblocks the sender
	}
	serr := <-sent
	return firstCause(rerr, serr)
}

// firstCause prefers an error that is not the side effect of the other
// side's closing the connections.
func firstCause(errs ...error) error {
	for _, err := range errs {
		if err != nil && !errors.Is(err, net.ErrClosed) {
			return err
		}
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// bounds returns chunk i of n elements split into parts near-equal parts
// (the first n%parts one longer).
func bounds(n, parts, i int) (lo, hi int) {
	q, r := n/parts, n%parts
	lo = i*q + min(i, r)
	hi = lo + q
	if i < r {
		hi++
	}
	return lo, hi
}

func mod(a, n int) int { return ((a % n) + n) % n }

// ringPass runs the ring reduce-scatter over buf (N-1 steps; at the end
// rank r holds chunk r fully reduced) with op, then, if gather, the ring
// all-gather (N-1 steps). With an empty buf it is a barrier: no member
// finishes the reduce-scatter before every member has started it.
func ringPass[T Float](c *Comm, kind uint8, op Op, buf []T, chunk func(i int) (int, int)) error {
	n, esz := c.size, uint8(unsafe.Sizeof(T(0)))
	if chunk == nil {
		chunk = func(i int) (int, int) { return bounds(len(buf), n, i) }
	}
	h := frameHdr{kind: kind, esz: esz, param: uint32(op), seq: c.seq, total: uint64(len(buf))}
	reduceSteps := kind != opAllGather
	gather := kind == opAllReduce || kind == opAllGather
	if reduceSteps {
		for s := range n - 1 {
			slo, shi := chunk(mod(c.rank-s-1, n))
			rlo, rhi := chunk(mod(c.rank-s-2, n))
			sh, want := h, h
			sh.count, want.count = uint64(shi-slo), uint64(rhi-rlo)
			if err := c.exchange(&sh, asBytes(buf[slo:shi]), &want, func() error {
				return recvReduce(c, buf[rlo:rhi], op)
			}); err != nil {
				return err
			}
		}
		if op == Mean {
			lo, hi := chunk(c.rank)
			inv := T(n)
			for i := lo; i < hi; i++ {
				buf[i] /= inv
			}
		}
	}
	if gather {
		for s := range n - 1 {
			slo, shi := chunk(mod(c.rank-s, n))
			rlo, rhi := chunk(mod(c.rank-s-1, n))
			sh, want := h, h
			sh.count, want.count = uint64(shi-slo), uint64(rhi-rlo)
			if err := c.exchange(&sh, asBytes(buf[slo:shi]), &want, func() error {
				return c.recvInto(asBytes(buf[rlo:rhi]))
			}); err != nil {
				return err
			}
		}
	}
	return nil
}

// AllReduce reduces buf across the group with op, in place: afterwards
// every member's buf holds the element-wise reduction of all members' bufs
// (torch.distributed.all_reduce; Ray's collective.allreduce). A ring
// reduce-scatter then a ring all-gather: each member sends and receives
// 2(N-1)/N of buf. Every member must pass the same length and op.
func AllReduce[T Float](ctx context.Context, c *Comm, buf []T, op Op) error {
	if !op.valid() {
		return fmt.Errorf("%w: reduction op %d", ErrInvalidOption, op)
	}
	return c.run(ctx, opAllReduce, c.opTimeout, func() error {
		if c.size == 1 {
			return nil // the mean of one is itself
		}
		if s := c.shm; s != nil {
			s.start(hdrOf[T](c, opAllReduce, uint32(op), len(buf)))
			return shmReduce(s, op, buf, nil, true)
		}
		return ringPass(c, opAllReduce, op, buf, nil)
	})
}

// ReduceScatter reduces in across the group with op and returns this
// member's chunk of the result: in split into Size() near-equal chunks in
// rank order (the first len(in)%Size() one element longer), chunk Rank()
// (torch.distributed.reduce_scatter_tensor). in is left as it was.
func ReduceScatter[T Float](ctx context.Context, c *Comm, in []T, op Op) ([]T, error) {
	if !op.valid() {
		return nil, fmt.Errorf("%w: reduction op %d", ErrInvalidOption, op)
	}
	var out []T
	err := c.run(ctx, opReduceScatter, c.opTimeout, func() error {
		if s := c.shm; s != nil {
			lo, hi := bounds(len(in), c.size, c.rank)
			chunk := make([]T, hi-lo)
			s.start(hdrOf[T](c, opReduceScatter, uint32(op), len(in)))
			if err := shmReduce(s, op, in, chunk, false); err != nil {
				return err
			}
			out = chunk
			return nil
		}
		work := append([]T(nil), in...)
		if c.size > 1 {
			if err := ringPass(c, opReduceScatter, op, work, nil); err != nil {
				return err
			}
		}
		lo, hi := bounds(len(in), c.size, c.rank)
		out = append(make([]T, 0, hi-lo), work[lo:hi]...)
		return nil
	})
	return out, err
}

// AllGather returns the concatenation of every member's in, in rank
// order (torch.distributed.all_gather_into_tensor). Every member must pass
// the same length.
func AllGather[T Float](ctx context.Context, c *Comm, in []T) ([]T, error) {
	var out []T
	err := c.run(ctx, opAllGather, c.opTimeout, func() error {
		l := len(in)
		out = make([]T, l*c.size)
		copy(out[c.rank*l:], in)
		if c.size == 1 {
			return nil
		}
		// total in the header is the per-member length.
		if s := c.shm; s != nil {
			s.start(hdrOf[T](c, opAllGather, 0, l))
			return shmAllGather(s, in, out)
		}
		return ringGather(c, out, l)
	})
	if err != nil {
		return nil, err // not a partly gathered slice
	}
	return out, nil
}

func ringGather[T Float](c *Comm, out []T, l int) error {
	n := c.size
	h := frameHdr{kind: opAllGather, esz: uint8(unsafe.Sizeof(T(0))), seq: c.seq, total: uint64(l), count: uint64(l)}
	for s := range n - 1 {
		so, ro := mod(c.rank-s, n)*l, mod(c.rank-s-1, n)*l
		if err := c.exchange(&h, asBytes(out[so:so+l]), &h, func() error {
			return c.recvInto(asBytes(out[ro : ro+l]))
		}); err != nil {
			return err
		}
	}
	return nil
}

// broadcastPiece is the largest frame of a Broadcast: the buffer travels
// round the ring in pieces, so that members forward one piece while the
// next arrives.
const broadcastPiece = 64 << 10 // elements

// Broadcast copies root's buf into every other member's buf
// (torch.distributed.broadcast). Every member must pass the same length
// and root.
func Broadcast[T Float](ctx context.Context, c *Comm, buf []T, root int) error {
	if root < 0 || root >= c.size {
		return fmt.Errorf("%w: root %d of a group of %d", ErrInvalidOption, root, c.size)
	}
	return c.run(ctx, opBroadcast, c.opTimeout, func() error {
		if c.size == 1 {
			return nil
		}
		if s := c.shm; s != nil {
			s.start(hdrOf[T](c, opBroadcast, uint32(root), len(buf)))
			return shmBroadcast(s, buf, root)
		}
		return ringBroadcast(c, buf, root)
	})
}

func ringBroadcast[T Float](c *Comm, buf []T, root int) error {
	h := frameHdr{kind: opBroadcast, esz: uint8(unsafe.Sizeof(T(0))), param: uint32(root), seq: c.seq, total: uint64(len(buf))}
	pieces := max(1, (len(buf)+broadcastPiece-1)/broadcastPiece)
	piece := func(i int) []T { return buf[i*broadcastPiece : min(len(buf), (i+1)*broadcastPiece)] }
	if c.rank == root {
		// The last member's acknowledgement: without it a root that
		// another member does not take for the root would never know. It
		// is read while the pieces go out: a member that also takes itself
		// for the root sends instead of reading, and a root that only
		// wrote would block on full socket buffers; the mismatch its
		// header shows closes the connections, which ends the writes.
		acked := make(chan error, 1)
		go func() {
			ack := h
			err := c.recvHdr(&ack)
			if err != nil {
				c.closeConns()
			}
			acked <- err
		}()
		var serr error
		for i := range pieces {
			p := piece(i)
			ph := h
			ph.count = uint64(len(p))
			if serr = c.send(&ph, asBytes(p)); serr != nil {
				c.closeConns() // ends the read of the acknowledgement
				break
			}
		}
		return firstCause(<-acked, serr)
	}
	forward := c.nextRank() != root
	var fwd chan []T
	sent := make(chan error, 1)
	if forward {
		fwd = make(chan []T, pieces)
		go func() {
			var err error
			for p := range fwd {
				if err == nil {
					ph := h
					ph.count = uint64(len(p))
					err = c.send(&ph, asBytes(p))
				}
			}
			sent <- err
		}()
	} else {
		sent <- nil
	}
	var rerr error
	for i := range pieces {
		p := piece(i)
		want := h
		want.count = uint64(len(p))
		if rerr = c.recvHdr(&want); rerr == nil {
			rerr = c.recvInto(asBytes(p))
		}
		if rerr != nil {
			c.closeConns()
			break
		}
		if forward {
			fwd <- p
		}
	}
	if forward {
		close(fwd)
	}
	if err := firstCause(rerr, <-sent); err != nil || forward {
		return err
	}
	ack := h
	return c.send(&ack, nil)
}

// Barrier returns when every member has called it
// (torch.distributed.barrier).
func (c *Comm) Barrier(ctx context.Context) error {
	return c.run(ctx, opBarrier, c.opTimeout, func() error {
		if c.size == 1 {
			return nil
		}
		if s := c.shm; s != nil {
			s.start(hdrOf[float32](c, opBarrier, 0, 0))
			return s.sync()
		}
		return ringPass[float32](c, opBarrier, 0, nil, nil)
	})
}

package collective

import "unsafe"

// The operations over the shared segment (shm.go). Each moves its buffer
// in pieces of at most one half-slot; every piece has at least one
// barrier, which the halves' reuse relies on. Rank r reads the others'
// slots straight from the mapping: no copy goes through a socket.

func esize[T Float]() int { return int(unsafe.Sizeof(T(0))) }

// shmReduce is AllReduce (gather: buf becomes the reduction, in place) or
// ReduceScatter (out, of chunk r's length, becomes chunk r of the
// reduction; buf is only read). The buffer is cut into n chunks as the
// ring cuts it (bounds), and piece k holds the k-th run of q elements of
// every chunk, in region j of the slot for chunk j:
//
//	stage:   r copies its pieces of the chunks j != r into its slot
//	barrier
//	reduce:  r reduces chunk r's piece (its own, read from buf, and the
//	         others', read from their slots) into buf (or out) and, for
//	         AllReduce, into region r of its own slot, which it did not
//	         stage
//	barrier  (AllReduce only)
//	collect: r copies chunk j's reduced piece from rank j's slot into buf
//
// so each member reads and writes its buffer once. Writes to the slots
// stream past the caches (copyOut, kNTAlso): the reader then finds the
// lines in memory, not in the writer's cache, which measured faster
// (BenchmarkHandoff, docs/performance.md). Regions are multiples of 32
// bytes, as the streaming stores need.
func shmReduce[T Float](s *shmSeg, op Op, buf, out []T, gather bool) error {
	n, r, esz := s.n, s.rank, esize[T]()
	q := (s.half / esz / n) &^ 7       // elements; a multiple of 32 bytes
	lo0, hi0 := bounds(len(buf), n, 0) // chunk 0 is the longest
	pieces := max(1, (hi0-lo0+q-1)/q)
	rlo, _ := bounds(len(buf), n, r)
	fl := kNTAlso
	if op == Mean {
		fl |= kDiv
	}
	for k := range pieces {
		h := s.nextHalf()
		region := func(p, j int) []T { return slotOf[T](s, p, h)[j*q : (j+1)*q] }
		// piece returns chunk j's part of piece k: buf[lo:hi].
		piece := func(j int) (lo, hi int) {
			clo, chi := bounds(len(buf), n, j)
			lo = min(chi, clo+k*q)
			return lo, min(chi, lo+q)
		}
		for j := range n {
			if j != r {
				lo, hi := piece(j)
				copyOut(region(r, j), buf[lo:hi], true)
			}
		}
		if err := s.sync(); err != nil {
			return err
		}
		lo, hi := piece(r)
		dst := buf[lo:hi]
		if !gather {
			dst = out[lo-rlo : hi-rlo]
		}
		// acc, where the others collect the reduced piece from, is also
		// where more than two members' pieces add up, so that the
		// caller's buffer is written once.
		acc := region(r, r)[:hi-lo]
		src := buf[lo:hi]
		for i := 1; i < n; i++ {
			peer := region((r+i)%n, r)[:hi-lo]
			if i < n-1 {
				reduceTo(op, acc, src, peer, nil, 0, 1)
				src = acc
				continue
			}
			var also []T
			if gather {
				also = acc
			}
			reduceTo(op, dst, src, peer, also, fl, n)
		}
		if !gather {
			continue
		}
		if err := s.sync(); err != nil {
			return err
		}
		for j := range n {
			if j != r {
				lo, hi := piece(j)
				copy(buf[lo:hi], region(j, j))
			}
		}
	}
	return nil
}

// shmAllGather: each member copies its piece of in into its slot; after
// the barrier every member copies the others' pieces into out (its own
// the caller copied).
func shmAllGather[T Float](s *shmSeg, in, out []T) error {
	l, per := len(in), s.half/esize[T]()
	pieces := max(1, (l+per-1)/per)
	for k := range pieces {
		h := s.nextHalf()
		lo, hi := min(l, k*per), min(l, (k+1)*per)
		copyOut(slotOf[T](s, s.rank, h), in[lo:hi], true)
		if err := s.sync(); err != nil {
			return err
		}
		for p := range s.n {
			if p != s.rank {
				copy(out[p*l+lo:p*l+hi], slotOf[T](s, p, h))
			}
		}
	}
	return nil
}

// shmBroadcast: the root copies a piece into its slot; after the barrier
// the others copy it out.
func shmBroadcast[T Float](s *shmSeg, buf []T, root int) error {
	l, per := len(buf), s.half/esize[T]()
	pieces := max(1, (l+per-1)/per)
	for k := range pieces {
		h := s.nextHalf()
		lo, hi := min(l, k*per), min(l, (k+1)*per)
		if s.rank == root {
			copyOut(slotOf[T](s, root, h), buf[lo:hi], true)
		}
		if err := s.sync(); err != nil {
			return err
		}
		if s.rank != root {
			copy(buf[lo:hi], slotOf[T](s, root, h))
		}
	}
	return nil
}

package collective_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/collective"
)

const benchLen = 1 << 20 // 1M float32: 4 MiB

// BenchmarkAllReduce sums 1M float32 across in-process members (each its
// own goroutine), over each transport; MB/s counts the buffer's 4 MiB per
// operation.
func BenchmarkAllReduce(b *testing.B) {
	for _, tr := range transports {
		for _, n := range []int{2, 4} {
			b.Run(fmt.Sprintf("%s/members=%d", tr.name, n), func(b *testing.B) {
				comms := joinAll(b, n, defaultPiece(tr)...)
				bufs := make([][]float32, n)
				for r := range bufs {
					bufs[r] = input[float32](r, benchLen)
				}
				b.SetBytes(4 * benchLen)
				b.ResetTimer()
				for b.Loop() {
					noErrs(b, "allreduce", each(n, func(r int) error {
						return collective.AllReduce(context.Background(), comms[r], bufs[r], collective.Sum)
					}))
				}
			})
		}
	}
}

// defaultPiece is the transport's options without the tests' small
// pieces.
func defaultPiece(tr transport) []collective.Option {
	if tr.name == "shm" {
		return nil
	}
	return tr.opts
}

// BenchmarkCopy is the floor: copy of the same 4 MiB.
func BenchmarkCopy(b *testing.B) {
	src, dst := input[float32](0, benchLen), make([]float32, benchLen)
	b.SetBytes(4 * benchLen)
	for b.Loop() {
		copy(dst, src)
	}
}

// benchMember is the second member of BenchmarkAllReduceSizes, an actor
// in a worker process: the "between 2 processes".
type benchMember struct {
	comms map[string]*collective.Comm
	bufs  map[int][]float32
}

var (
	benchMemberType = rayo.RegisterActor[benchMember]("rayo.collective.test.benchMember", func() *benchMember {
		return &benchMember{comms: map[string]*collective.Comm{}, bufs: map[int][]float32{}}
	})
	benchJoin = rayo.RegisterMethod[bool](benchMemberType, "Join", func(m *benchMember, ctx context.Context, group string, rank, size int, tcp bool) (bool, error) {
		var opts []collective.Option
		if tcp {
			opts = append(opts, collective.WithoutSharedMemory())
		}
		c, err := collective.Join(ctx, group, rank, size, opts...)
		if err != nil {
			return false, err
		}
		m.comms[group] = c
		return collective.Transport(c) == "shm", nil
	})
	// benchRun runs iters AllReduce Sum of elems float32 in the group,
	// then leaves it.
	benchRun = rayo.RegisterMethod[int](benchMemberType, "Run", func(m *benchMember, ctx context.Context, group string, elems, iters int) (int, error) {
		c := m.comms[group]
		defer func() {
			c.Close()
			delete(m.comms, group)
		}()
		buf, ok := m.bufs[elems]
		if !ok {
			buf = make([]float32, elems)
			m.bufs[elems] = buf
		}
		for i := range buf {
			buf[i] = 1
		}
		runtime.GC() // not during the loop
		for range iters {
			if err := collective.AllReduce(ctx, c, buf, collective.Sum); err != nil {
				return 0, err
			}
		}
		return iters, nil
	})
)

// BenchmarkAllReduceSizes: AllReduce Sum of 1, 16 and 256 MiB of float32
// between 2 processes (this one and an actor's worker), in shared memory
// and over TCP, beside its floors measured in the same run: memcpy of the
// same bytes and a stream of them over a loopback TCP connection between
// two goroutines. Each member row reports its speed over each floor's
// (x-memcpy, x-loopback).
func BenchmarkAllReduceSizes(b *testing.B) {
	ctx := context.Background()
	peer, err := benchMemberType.New(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer rayo.Kill(ctx, peer, true)
	for _, mib := range []int{1, 16, 256} {
		elems := mib << 20 / 4
		b.Run(fmt.Sprintf("%dMiB", mib), func(b *testing.B) {
			src, dst := make([]float32, elems), make([]float32, elems)
			for i := range src {
				src[i] = 1
			}
			floor := map[string]time.Duration{} // per op
			perOp := func(b *testing.B) time.Duration { return b.Elapsed() / time.Duration(b.N) }
			ratios := func(b *testing.B) {
				for name, unit := range map[string]string{"memcpy": "x-memcpy", "loopback": "x-loopback"} {
					if f, ok := floor[name]; ok {
						b.ReportMetric(float64(f)/float64(perOp(b)), unit)
					}
				}
			}
			b.Run("memcpy", func(b *testing.B) {
				b.SetBytes(int64(4 * elems))
				for i := 0; i < b.N; i++ {
					copy(dst, src)
				}
				floor["memcpy"] = perOp(b)
			})
			b.Run("loopback", func(b *testing.B) {
				benchLoopback(b, bytesOf(src), bytesOf(dst))
				floor["loopback"] = perOp(b)
			})
			for _, tcp := range []bool{false, true} {
				name := map[bool]string{false: "shm", true: "tcp"}[tcp]
				b.Run(name, func(b *testing.B) {
					benchTwoProcs(b, peer, src, tcp)
					ratios(b)
				})
			}
		})
	}
}

// benchTwoProcs times b.N AllReduce of buf between this process (rank 0)
// and the peer actor (rank 1).
func benchTwoProcs(b *testing.B, peer rayo.ActorHandle[benchMember], buf []float32, tcp bool) {
	ctx := context.Background()
	group := groupName(b)
	var opts []collective.Option
	if tcp {
		opts = append(opts, collective.WithoutSharedMemory())
	}
	joined := benchJoin.Remote(peer, group, 1, 2, tcp)
	c, err := collective.Join(ctx, group, 0, 2, opts...)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if shm, err := rayo.Get(ctx, joined); err != nil || shm == tcp {
		b.Fatalf("the peer's Join: shm %v, %v", shm, err)
	}
	if got := collective.Transport(c); got != map[bool]string{false: "shm", true: "tcp"}[tcp] {
		b.Fatalf("transport %q", got)
	}
	// One more for the warm-up: pages touched, the peer in its loop.
	done := benchRun.Remote(peer, group, len(buf), b.N+1)
	runtime.GC() // not during the loop
	if err := collective.AllReduce(ctx, c, buf, collective.Sum); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(4 * len(buf)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := collective.AllReduce(ctx, c, buf, collective.Sum); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if _, err := rayo.Get(ctx, done); err != nil {
		b.Fatal(err)
	}
}

// benchLoopback streams src over a loopback TCP connection into dst, per
// operation, between two goroutines.
func benchLoopback(b *testing.B, src, dst []byte) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		conn, _ := ln.Accept()
		accepted <- conn
	}()
	w, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	r := <-accepted
	if r == nil {
		b.Fatal("accept failed")
	}
	defer r.Close()
	read := make(chan error)
	b.SetBytes(int64(len(src)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		go func() {
			_, err := io.ReadFull(r, dst)
			read <- err
		}()
		if _, err := w.Write(src); err != nil {
			b.Fatal(err)
		}
		if err := <-read; err != nil {
			b.Fatal(err)
		}
	}
}

func bytesOf(s []float32) []byte { return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), 4*len(s)) }

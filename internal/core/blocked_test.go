package core

import (
	"context"
	"io"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
)

// fakeNodeServer serves node.WorkerBlocked over a real connection and
// records the states it is told; gate, when set, holds each call.
type fakeNodeServer struct {
	mu     sync.Mutex
	states []bool
	gate   chan struct{}
	inCall chan struct{}
}

func startFakeNodeServer(t *testing.T, f *fakeNodeServer) *rpc.Client {
	t.Helper()
	srv := rpc.NewServer("", slog.New(slog.NewTextHandler(io.Discard, nil)))
	rpc.Register(srv, protocol.NodeWorkerBlocked, func(_ context.Context, req *protocol.WorkerBlockedRequest) (*protocol.Empty, error) {
		if f.inCall != nil {
			f.inCall <- struct{}{}
		}
		if f.gate != nil {
			<-f.gate
		}
		f.mu.Lock()
		f.states = append(f.states, req.Blocked)
		f.mu.Unlock()
		return &protocol.Empty{}, nil
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(ln) }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := rpc.Dial(ctx, ln.Addr().String(), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.Close()
		srv.Close()
		<-served
	})
	return c
}

// The node hears of a worker's blocked state in order, and blockMu is not
// held while it is told.
func TestBlockedStateSentOutsideLock(t *testing.T) {
	f := &fakeNodeServer{gate: make(chan struct{}), inCall: make(chan struct{}, 1)}
	rt := newTestRuntime(t, newFakeCluster())
	rt.cfg.IsWorker = true
	rt.node = startFakeNodeServer(t, f)

	rt.countBlocked(1)
	sent := make(chan struct{})
	go func() { defer close(sent); rt.sendBlocked() }()
	<-f.inCall // the node is being told "blocked", and holds the call
	// blockMu is free meanwhile: another call's bracket ends, and a
	// second sender leaves its change to the one under way.
	rt.countBlocked(-1)
	rt.sendBlocked()
	close(f.gate)
	<-sent
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.states) != 2 || !f.states[0] || f.states[1] {
		t.Fatalf("node told %v; want [true false]", f.states)
	}
}

// Many overlapping Gets: the node ends told "not blocked", and never the
// same state twice in a row.
func TestBlockedWhileOverlapping(t *testing.T) {
	f := &fakeNodeServer{}
	rt := newTestRuntime(t, newFakeCluster())
	rt.cfg.IsWorker = true
	rt.node = startFakeNodeServer(t, f)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 5 {
				end := rt.blockedWhile()
				if (i+j)%3 == 0 {
					// Long enough that the timer fires: the worker is
					// reported blocked.
					time.Sleep(3 * blockedDelay)
				}
				end()
			}
		}()
	}
	wg.Wait()
	// A timer that fired just as its bracket ended may still be sending
	// (its goroutine is the timer's): wait for it to finish.
	var blocked int
	var sending, last bool
	for deadline := time.Now().Add(10 * time.Second); ; {
		rt.blockMu.Lock()
		blocked, sending, last = rt.blocked, rt.blockSending, rt.blockSent
		rt.blockMu.Unlock()
		if !sending || time.Now().After(deadline) {
			break
		}
		runtime.Gosched()
	}
	if blocked != 0 || last || sending {
		t.Fatalf("blocked = %d, node last told %v (sending %v); want 0 and false", blocked, last, sending)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.states) == 0 {
		t.Fatal("the node was never told")
	}
	for i, b := range f.states {
		if b != (i%2 == 0) {
			t.Fatalf("node told %v; want alternating from true", f.states)
		}
	}
}

// A dial to a head that does not answer holds no lock: callers wait under
// their own ctx and share one dial.
func TestHeadDialOutsideLock(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 4)
	go func() {
		defer close(accepted)
		for {
			c, err := ln.Accept() // and never answer the handshake
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		for c := range accepted {
			_ = c.Close()
		}
	})
	rt := newTestRuntime(t, newFakeCluster())
	rt.job.Store(&protocol.JobSpec{JobID: "job1", HeadAddr: ln.Addr().String()})
	for range 3 {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := rt.headClient(ctx); err != context.Canceled {
			t.Fatalf("headClient = %v; want the caller's ctx error", err)
		}
	}
	conn := <-accepted // the dial is under way
	rt.headMu.Lock()   // and headMu is free meanwhile
	d := rt.headDialing
	rt.headMu.Unlock()
	if d == nil {
		t.Fatal("no dial in progress")
	}
	select {
	case c := <-accepted:
		t.Fatalf("a second dial (%v): callers should share one", c.RemoteAddr())
	default:
	}
	// The head goes away: the dial fails, and its callers with it. (A
	// stop does not end it sooner: rpc.Dial's hello waits for its own
	// bound, whatever the ctx.)
	_ = conn.Close()
	<-d.done
	if d.err == nil || d.c != nil {
		t.Fatalf("dial = %v, %v; want an error", d.c, d.err)
	}
	rt.headMu.Lock()
	left := rt.headDialing
	rt.headMu.Unlock()
	if left != nil {
		t.Fatal("the failed dial is still recorded: the next caller could not dial again")
	}
}

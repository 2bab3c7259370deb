package rayo_test

import (
	"fmt"
	"iter"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rayo-dev/rayo"
)

// lockOrderRun keeps the names of a -count=N rerun apart: registrations
// last as long as the process.
var lockOrderRun atomic.Int64

type lockOrderBox struct{}

// lockOrderType is registered once per process (a Go type is one actor
// type); the method names of each run are its own.
var lockOrderType = sync.OnceValue(func() *rayo.ActorType[lockOrderBox] {
	return rayo.RegisterActor[lockOrderBox]("test.lockorder.Box", func() *lockOrderBox { return &lockOrderBox{} })
})

// TestRegisterSameNameConcurrently: Register and RegisterStream of one
// name, at once, leave exactly one registration (the other panics). Each
// checks the other's table under the lock order registry, then streamDefs.
func TestRegisterSameNameConcurrently(t *testing.T) {
	run := lockOrderRun.Add(1)
	for i := range 200 {
		name := fmt.Sprintf("test.lockorder.%d.task%d", run, i)
		var wg sync.WaitGroup
		start := make(chan struct{})
		var plain, stream string
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-start
			plain = panicText(func() { rayo.Register[int](name, func() int { return 1 }) })
		}()
		go func() {
			defer wg.Done()
			<-start
			stream = panicText(func() {
				rayo.RegisterStream[int](name, func() iter.Seq2[int, error] { return func(func(int, error) bool) {} })
			})
		}()
		close(start)
		wg.Wait()
		if (plain == "") == (stream == "") {
			t.Fatalf("Register and RegisterStream of %q at once: panics %q and %q; want exactly one to panic", name, plain, stream)
		}
		if msg := plain + stream; !strings.Contains(msg, "already registered") {
			t.Fatalf("the refused registration of %q panicked with %q; want %q", name, msg, "already registered")
		}
	}
}

// TestRegisterMethodNameTakenByStream: a method name is one per actor
// type, whichever of RegisterMethod and RegisterStreamMethod comes first,
// also when they come at once.
func TestRegisterMethodNameTakenByStream(t *testing.T) {
	run := lockOrderRun.Add(1)
	at := lockOrderType()
	seq := func(*lockOrderBox) iter.Seq2[int, error] { return func(func(int, error) bool) {} }
	plainFn := func(*lockOrderBox) int { return 1 }

	streamed, plainName := fmt.Sprintf("Streamed%d", run), fmt.Sprintf("Plain%d", run)
	rayo.RegisterStreamMethod[int](at, streamed, seq)
	if msg := panicText(func() { rayo.RegisterMethod[int](at, streamed, plainFn) }); !strings.Contains(msg, "already has a method") {
		t.Fatalf("RegisterMethod of a streaming method's name: panic %q; want %q", msg, "already has a method")
	}
	rayo.RegisterMethod[int](at, plainName, plainFn)
	if msg := panicText(func() { rayo.RegisterStreamMethod[int](at, plainName, seq) }); !strings.Contains(msg, "already has a method") {
		t.Fatalf("RegisterStreamMethod of a method's name: panic %q; want %q", msg, "already has a method")
	}

	for i := range 200 {
		name := fmt.Sprintf("M%d_%d", run, i)
		var wg sync.WaitGroup
		start := make(chan struct{})
		var plain, stream string
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-start
			plain = panicText(func() { rayo.RegisterMethod[int](at, name, plainFn) })
		}()
		go func() {
			defer wg.Done()
			<-start
			stream = panicText(func() { rayo.RegisterStreamMethod[int](at, name, seq) })
		}()
		close(start)
		wg.Wait()
		if (plain == "") == (stream == "") {
			t.Fatalf("RegisterMethod and RegisterStreamMethod of %q at once: panics %q and %q; want exactly one to panic", name, plain, stream)
		}
	}
}

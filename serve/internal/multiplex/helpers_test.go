package multiplex_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rayo-dev/rayo/serve/internal/multiplex"
)

// model is what the test loader returns.
type model struct {
	id  string
	gen int // which load of this ID made it
}

// stepClock advances one millisecond per reading, so a load or an unload
// that reads it twice lasts exactly 1ms.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

// harness is a cache with a scripted loader, an unload hook and an event
// recorder.
type harness struct {
	t *testing.T
	c *multiplex.Cache[*model]

	mu      sync.Mutex
	log     []string                 // "load a", "unload a", in call order
	loads   map[string]int           // loader calls per ID
	unloads map[string]int           // unload calls per ID
	gates   map[string]chan struct{} // a load of this ID waits for the gate
	errs    map[string]error         // a load of this ID fails with this
	panics  map[string]bool          // a load of this ID panics
	ugates  map[string]chan struct{} // an unload of this ID waits for the gate
	uerrs   map[string]error
	events  []multiplex.Event
	waitFor map[multiplex.EventKind]chan struct{} // signalled on each event of the kind
	loadCtx map[string]context.Context
	started chan string // each loader call sends its ID
}

func newHarness(t *testing.T, maxModels int) *harness {
	t.Helper()
	h := &harness{
		t:       t,
		loads:   map[string]int{},
		unloads: map[string]int{},
		gates:   map[string]chan struct{}{},
		errs:    map[string]error{},
		panics:  map[string]bool{},
		ugates:  map[string]chan struct{}{},
		uerrs:   map[string]error{},
		waitFor: map[multiplex.EventKind]chan struct{}{},
		loadCtx: map[string]context.Context{},
		started: make(chan string, 1024),
	}
	for k := multiplex.EventHit; k <= multiplex.EventOverflow; k++ {
		h.waitFor[k] = make(chan struct{}, 1024)
	}
	clk := &stepClock{}
	c, err := multiplex.New(h.load, multiplex.Config[*model]{
		MaxModels: maxModels,
		Unload:    h.unload,
		OnEvent:   h.onEvent,
		Now:       clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.c = c
	t.Cleanup(func() {
		// Open every gate so that nothing is left blocked, then close.
		h.mu.Lock()
		for id, g := range h.gates {
			close(g)
			delete(h.gates, id)
		}
		for id, g := range h.ugates {
			close(g)
			delete(h.ugates, id)
		}
		h.mu.Unlock()
		if err := c.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return h
}

func (h *harness) load(ctx context.Context, id string) (*model, error) {
	h.mu.Lock()
	h.loads[id]++
	gen := h.loads[id]
	h.log = append(h.log, "load "+id)
	h.loadCtx[id] = ctx
	gate, err, panics := h.gates[id], h.errs[id], h.panics[id]
	h.mu.Unlock()
	h.started <- id
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if panics {
		panic("boom " + id)
	}
	if err != nil {
		return nil, err
	}
	return &model{id: id, gen: gen}, nil
}

func (h *harness) unload(_ context.Context, id string, m *model) error {
	if m == nil || m.id != id {
		h.t.Errorf("unload %q got model %+v", id, m)
	}
	h.mu.Lock()
	gate := h.ugates[id]
	h.mu.Unlock()
	if gate != nil {
		<-gate
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.unloads[id]++
	h.log = append(h.log, "unload "+id)
	return h.uerrs[id]
}

func (h *harness) onEvent(ev multiplex.Event) {
	h.mu.Lock()
	h.events = append(h.events, ev)
	ch := h.waitFor[ev.Kind]
	h.mu.Unlock()
	ch <- struct{}{}
}

// gate makes loads of id block until the returned func is called.
func (h *harness) gate(id string) (open func()) {
	g := make(chan struct{})
	h.mu.Lock()
	h.gates[id] = g
	h.mu.Unlock()
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.gates[id] == g {
			delete(h.gates, id)
			close(g)
		}
	}
}

// unloadGate makes unloads of id block until the returned func is called.
func (h *harness) unloadGate(id string) (open func()) {
	g := make(chan struct{})
	h.mu.Lock()
	h.ugates[id] = g
	h.mu.Unlock()
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.ugates[id] == g {
			delete(h.ugates, id)
			close(g)
		}
	}
}

// await blocks until n more events of kind have been seen.
func (h *harness) await(kind multiplex.EventKind, n int) {
	h.t.Helper()
	timeout := time.After(10 * time.Second) // a hang guard, not a synchronisation
	for range n {
		select {
		case <-h.waitFor[kind]:
		case <-timeout:
			h.t.Fatalf("timed out waiting for %d %v events", n, kind)
		}
	}
}

func (h *harness) get(id string) *model {
	h.t.Helper()
	m, err := h.c.Get(context.Background(), id)
	if err != nil {
		h.t.Fatalf("Get(%q): %v", id, err)
	}
	if m.id != id {
		h.t.Fatalf("Get(%q) returned model %q", id, m.id)
	}
	return m
}

func (h *harness) count(kind multiplex.EventKind) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, ev := range h.events {
		if ev.Kind == kind {
			n++
		}
	}
	return n
}

func (h *harness) logCopy() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.log...)
}

func (h *harness) loadCount(id string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.loads[id]
}

func (h *harness) unloadCount(id string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.unloads[id]
}

func ids(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("m%d", i)
	}
	return out
}

package microbench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"regexp"
	"runtime"
	"time"

	"github.com/rayo-dev/rayo"
)

// Result is one row: mean and standard deviation over the trials.
type Result struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Stddev float64 `json:"stddev"`
	Unit   string  `json:"unit"`
}

// Options select what runs and how long each trial lasts.
type Options struct {
	Filter *regexp.Regexp
	// Warmup and Trial durations; Trials per row (Ray: 1 s, 2 s, 4).
	Warmup, Trial time.Duration
	Trials        int
	// Progress receives each row as it finishes (table form).
	Progress io.Writer
}

func (o *Options) defaults() {
	if o.Warmup <= 0 {
		o.Warmup = 500 * time.Millisecond
	}
	if o.Trial <= 0 {
		o.Trial = 1500 * time.Millisecond
	}
	if o.Trials <= 0 {
		o.Trials = 4
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
}

type bench struct {
	ctx     context.Context
	o       Options
	results []Result
	err     error
}

func (b *bench) want(name string) bool {
	return b.err == nil && (b.o.Filter == nil || b.o.Filter.MatchString(name))
}

func (b *bench) add(r Result) {
	b.results = append(b.results, r)
	fmt.Fprintf(b.o.Progress, "%-50s %14.2f +- %.2f %s\n", r.Name, r.Value, r.Stddev, r.Unit)
}

// timeit runs fn as Ray's timeit does: a warm-up, then trials of a fixed
// duration, each reporting multiplier × calls per second.
func (b *bench) timeit(name string, fn func() error, multiplier float64, unit string) {
	if !b.want(name) {
		return
	}
	start := time.Now()
	count := 0
	for time.Since(start) < b.o.Warmup {
		if err := fn(); err != nil {
			b.err = fmt.Errorf("%s: %w", name, err)
			return
		}
		count++
	}
	step := count/10 + 1
	stats := make([]float64, 0, b.o.Trials)
	for t := 0; t < b.o.Trials; t++ {
		start := time.Now()
		n := 0
		for time.Since(start) < b.o.Trial {
			for i := 0; i < step; i++ {
				if err := fn(); err != nil {
					b.err = fmt.Errorf("%s: %w", name, err)
					return
				}
			}
			n += step
		}
		stats = append(stats, multiplier*float64(n)/time.Since(start).Seconds())
	}
	m, sd := MeanStd(stats)
	b.add(Result{Name: name, Value: m, Stddev: sd, Unit: unit})
}

// MeanStd is the mean and the (population) standard deviation of xs; NaN
// and 0 for none.
func MeanStd(xs []float64) (float64, float64) {
	if len(xs) == 0 {
		return math.NaN(), 0
	}
	var s float64
	for _, x := range xs {
		s += x
	}
	m := s / float64(len(xs))
	var v float64
	for _, x := range xs {
		v += (x - m) * (x - m)
	}
	return m, math.Sqrt(v / float64(len(xs)))
}

// Run runs the rows on the cluster rayo.Init connected to.
func Run(ctx context.Context, o Options) ([]Result, error) {
	o.defaults()
	b := &bench{ctx: ctx, o: o}
	b.floor()
	b.objects()
	b.tasks()
	b.actors()
	b.placementGroups()
	return b.results, b.err
}

// floor measures the machine: a loopback TCP round trip and a one-core
// memcpy, in this same run.
func (b *bench) floor() {
	if b.want("raw loopback TCP round trip") {
		var rtts []float64
		for t := 0; t < b.o.Trials; t++ {
			rtt, err := tcpRoundTrip(20000)
			if err != nil {
				b.err = err
				return
			}
			rtts = append(rtts, float64(rtt.Nanoseconds())/1e3)
		}
		m, sd := MeanStd(rtts)
		b.add(Result{Name: "raw loopback TCP round trip", Value: m, Stddev: sd, Unit: "us"})
	}
	if b.want("memcpy (one core)") {
		src := make([]byte, 256<<20)
		dst := make([]byte, 256<<20)
		for i := range src {
			src[i] = byte(i)
		}
		copy(dst, src) // fault the pages in
		var gbs []float64
		for t := 0; t < b.o.Trials; t++ {
			start := time.Now()
			for i := 0; i < 4; i++ {
				copy(dst, src)
			}
			gbs = append(gbs, 4*float64(len(src))/1e9/time.Since(start).Seconds())
		}
		m, sd := MeanStd(gbs)
		b.add(Result{Name: "memcpy (one core)", Value: m, Stddev: sd, Unit: "GB/s"})
	}
}

// LoopbackRoundTrip measures the mean of n 1-byte ping-pongs between two
// goroutines over a loopback TCP connection: the physical floor of every
// call between processes on a node.
func LoopbackRoundTrip(n int) (time.Duration, error) { return tcpRoundTrip(n) }

func tcpRoundTrip(n int) (time.Duration, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 1)
		for {
			if _, err := io.ReadFull(c, buf); err != nil {
				return
			}
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return 0, err
	}
	defer c.Close()
	buf := []byte{1}
	start := time.Now()
	for i := 0; i < n; i++ {
		if _, err := c.Write(buf); err != nil {
			return 0, err
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			return 0, err
		}
	}
	return time.Since(start) / time.Duration(n), nil
}

func (b *bench) objects() {
	ctx := b.ctx
	if b.want("single client get calls (Plasma Store)") {
		value, err := rayo.Put(ctx, 0)
		if err != nil {
			b.err = err
			return
		}
		b.timeit("single client get calls (Plasma Store)", func() error { _, err := value.Get(ctx); return err }, 1, "/s")
	}
	b.timeit("single client put calls (Plasma Store)", func() error { _, err := rayo.Put(ctx, 0); return err }, 1, "/s")
	b.timeit("multi client put calls (Plasma Store)", func() error {
		refs := make([]rayo.ObjectRef[int], 10)
		for i := range refs {
			refs[i] = doPutSmall.Remote()
		}
		_, err := rayo.GetAll(ctx, refs)
		return err
	}, 1000, "/s")
	if b.want("single client put gigabytes") {
		arr := make([]int64, 100*1024*1024)
		b.timeit("single client put gigabytes", func() error {
			_, err := rayo.Put(ctx, arr)
			runtime.GC() // let dropped refs free their objects between puts
			return err
		}, 8*0.1, "GB/s")
	}
	b.timeit("single client tasks and get batch", func() error {
		refs := make([]rayo.ObjectRef[[]byte], 1000)
		for i := range refs {
			refs[i] = smallValue.Remote()
		}
		_, err := rayo.GetAll(ctx, refs)
		return err
	}, 1, "/s")
	b.timeit("multi client put gigabytes", func() error {
		refs := make([]rayo.ObjectRef[int], 10)
		for i := range refs {
			refs[i] = doPut.Remote()
		}
		_, err := rayo.GetAll(ctx, refs)
		runtime.GC()
		return err
	}, 10*8*0.1, "GB/s")
	if b.want("single client get object containing 10k refs") {
		obj := createObjectContainingRef.Remote()
		b.timeit("single client get object containing 10k refs", func() error { _, err := obj.Get(ctx); return err }, 1, "/s")
	}
	b.timeit("single client wait 1k refs", func() error {
		notReady := make([]rayo.ObjectRef[[]byte], 1000)
		for i := range notReady {
			notReady[i] = smallValue.Remote()
		}
		for range 1000 {
			var err error
			if _, notReady, err = rayo.Wait(ctx, notReady, 1, -1); err != nil {
				return err
			}
		}
		return nil
	}, 1, "/s")
}

func (b *bench) tasks() {
	ctx := b.ctx
	b.timeit("single client tasks sync", func() error { _, err := smallValue.Remote().Get(ctx); return err }, 1, "/s")
	b.timeit("single client tasks async", func() error {
		refs := make([]rayo.ObjectRef[[]byte], 1000)
		for i := range refs {
			refs[i] = smallValue.Remote()
		}
		_, err := rayo.GetAll(ctx, refs)
		return err
	}, 1000, "/s")
	if b.want("multi client tasks async") {
		const n, m = 10000, 4
		actors, err := newActors(ctx, m)
		if err != nil {
			b.err = err
			return
		}
		b.timeit("multi client tasks async", func() error {
			refs := make([]rayo.ObjectRef[int], m)
			for i, a := range actors {
				refs[i] = actorBatch.Remote(a, n)
			}
			_, err := rayo.GetAll(ctx, refs)
			return err
		}, n*m, "/s")
		killAll(ctx, actors)
	}
}

func newActors(ctx context.Context, n int, opts ...rayo.Option) ([]rayo.ActorHandle[Actor], error) {
	out := make([]rayo.ActorHandle[Actor], n)
	for i := range out {
		a, err := actorType.Options(opts...).New(ctx)
		if err != nil {
			return nil, err
		}
		if err := a.Ready(ctx); err != nil {
			return nil, err
		}
		out[i] = a
	}
	return out, nil
}

func killAll[A any](ctx context.Context, hs []rayo.ActorHandle[A]) {
	for _, h := range hs {
		_ = rayo.Kill(ctx, h, true)
	}
}

func (b *bench) actors() {
	ctx := b.ctx
	nCPU := max(runtime.NumCPU()/2, 1)
	one := func(name string, opts []rayo.Option, fn func(a rayo.ActorHandle[Actor]) error, mult float64) {
		if !b.want(name) {
			return
		}
		as, err := newActors(ctx, 1, opts...)
		if err != nil {
			b.err = err
			return
		}
		b.timeit(name, func() error { return fn(as[0]) }, mult, "/s")
		killAll(ctx, as)
	}
	sync := func(a rayo.ActorHandle[Actor]) error { _, err := actorSmallValue.Remote(a).Get(ctx); return err }
	async := func(a rayo.ActorHandle[Actor]) error {
		refs := make([]rayo.ObjectRef[[]byte], 1000)
		for i := range refs {
			refs[i] = actorSmallValue.Remote(a)
		}
		_, err := rayo.GetAll(ctx, refs)
		return err
	}
	one("1:1 actor calls sync", nil, sync, 1)
	one("1:1 actor calls async", nil, async, 1000)
	one("1:1 actor calls concurrent", []rayo.Option{rayo.MaxConcurrency(16)}, async, 1000)

	if b.want("1:n actor calls async") {
		const n = 5000
		servers, err := newActors(ctx, nCPU)
		if err != nil {
			b.err = err
			return
		}
		client, err := clientType.New(ctx, servers)
		if err != nil {
			b.err = err
			return
		}
		b.timeit("1:n actor calls async", func() error { _, err := clientBatch.Remote(client, n).Get(ctx); return err },
			float64(n*len(servers)), "/s")
		killAll(ctx, servers)
		_ = rayo.Kill(ctx, client, true)
	}
	if b.want("n:n actor calls async") {
		const n, m = 5000, 4
		as, err := newActors(ctx, nCPU)
		if err != nil {
			b.err = err
			return
		}
		b.timeit("n:n actor calls async", func() error {
			refs := make([]rayo.ObjectRef[int], m)
			for i := range refs {
				refs[i] = work.Remote(as, n)
			}
			_, err := rayo.GetAll(ctx, refs)
			return err
		}, m*n, "/s")
		killAll(ctx, as)
	}
	if b.want("n:n actor calls with arg async") {
		const n = 1000
		as, err := newActors(ctx, nCPU)
		if err != nil {
			b.err = err
			return
		}
		clients := make([]rayo.ActorHandle[Client], len(as))
		for i, a := range as {
			if clients[i], err = clientType.New(ctx, []rayo.ActorHandle[Actor]{a}); err != nil {
				b.err = err
				return
			}
		}
		b.timeit("n:n actor calls with arg async", func() error {
			refs := make([]rayo.ObjectRef[int], len(clients))
			for i, c := range clients {
				refs[i] = clientBatchArg.Remote(c, n)
			}
			_, err := rayo.GetAll(ctx, refs)
			return err
		}, float64(n*len(clients)), "/s")
		killAll(ctx, as)
		killAll(ctx, clients)
	}
	b.ratio()
}

// ratio relates the sync actor call to the loopback round trip.
func (b *bench) ratio() {
	var rtt, call *Result
	for i := range b.results {
		switch b.results[i].Name {
		case "raw loopback TCP round trip":
			rtt = &b.results[i]
		case "1:1 actor calls sync":
			call = &b.results[i]
		}
	}
	if rtt != nil && call != nil && call.Value > 0 {
		us := 1e6 / call.Value
		b.add(Result{Name: "1:1 actor call sync / TCP round trip", Value: us / rtt.Value, Unit: "x"})
	}
	var put, cp *Result
	for i := range b.results {
		switch b.results[i].Name {
		case "single client put gigabytes":
			put = &b.results[i]
		case "memcpy (one core)":
			cp = &b.results[i]
		}
	}
	if put != nil && cp != nil && cp.Value > 0 {
		b.add(Result{Name: "single client put gigabytes / memcpy", Value: put.Value / cp.Value, Unit: "x"})
	}
}

// JSON writes results as `rayo microbenchmark --json` does.
func JSON(w io.Writer, rs []Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rs)
}

// placementGroups: create 100 one-bundle groups of {"custom": 0.001},
// wait for them, remove them (the cluster needs a "custom" resource;
// rayo microbenchmark's embedded cluster has 100).
func (b *bench) placementGroups() {
	const numPGs = 100
	ctx := b.ctx
	b.timeit("placement group create/removal", func() error {
		pgs := make([]*rayo.PlacementGroup, numPGs)
		for i := range pgs {
			pg, err := rayo.NewPlacementGroup(ctx, []map[string]float64{{"custom": 0.001}}, rayo.PACK)
			if err != nil {
				return err
			}
			pgs[i] = pg
		}
		for _, pg := range pgs {
			wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			err := pg.Ready(wctx)
			cancel()
			if err != nil {
				return fmt.Errorf("placement group not ready (does the cluster have a \"custom\" resource?): %w", err)
			}
		}
		for _, pg := range pgs {
			if err := rayo.RemovePlacementGroup(ctx, pg); err != nil {
				return err
			}
		}
		return nil
	}, numPGs, "/s")
}

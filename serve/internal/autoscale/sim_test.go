package autoscale

import (
	"fmt"
	"testing"
	"time"
)

// tick is the simulated control-loop period (Ray's CONTROL_LOOP_INTERVAL_S)
// and report interval.
const tick = 100 * time.Millisecond

type change struct {
	at       time.Duration // since t0
	from, to int
	act      Action
}

func (c change) String() string { return fmt.Sprintf("%v: %d→%d (%s)", c.at, c.from, c.to, c.act) }

// sim drives a Policy the way the controller will, on a fake clock: every
// tick each replica reports its share of the concurrent clients (a proxy
// reports them as queued while no replica runs), then the policy decides
// and replicas start or stop at once.
type sim struct {
	t        *testing.T
	p        *Policy
	el       time.Duration // time since t0
	target   int
	changes  []change
	reported map[int]report // each replica's last report
}

type report struct {
	at time.Duration
	v  int
}

func newSim(t *testing.T, cfg Config, start int) *sim {
	t.Helper()
	p, err := NewPolicy(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &sim{t: t, p: p, target: start, reported: make(map[int]report)}
}

var ridCache = func() []string {
	ids := make([]string, 128)
	for i := range ids {
		ids[i] = fmt.Sprint("replica-", i)
	}
	return ids
}()

// rid names replica i, without allocating for the first 128.
func rid(i int) string {
	if i < len(ridCache) {
		return ridCache[i]
	}
	return fmt.Sprint("replica-", i)
}

// run simulates d at the given number of concurrent clients.
func (s *sim) run(d time.Duration, clients int) {
	for end := s.el + d; s.el < end; {
		s.el += tick
		now := at(s.el)
		n := s.target
		queued := 0
		if n == 0 {
			queued = clients
		}
		s.p.RecordQueued("proxy", now, queued)
		for i := range n {
			share := clients / n
			if i < clients%n {
				share++
			}
			// Reporting an unchanged count adds nothing to a step
			// function, so replicas report changes and a 1 s heartbeat:
			// the same load, fewer calls under -race.
			if r, ok := s.reported[i]; !ok || r.v != share || s.el-r.at >= time.Second {
				s.p.Record(rid(i), now, share, 0)
				s.reported[i] = report{s.el, share}
			}
		}
		dec := s.p.Decide(now, n)
		if dec.Desired == n {
			continue
		}
		s.changes = append(s.changes, change{s.el, n, dec.Desired, dec.Action})
		for i := dec.Desired; i < n; i++ {
			s.p.DropReplica(rid(i))
			delete(s.reported, i)
		}
		s.target = dec.Desired
	}
}

// changesSince returns the changes at or after from.
func (s *sim) changesSince(from time.Duration) []change {
	var out []change
	for _, c := range s.changes {
		if c.at >= from {
			out = append(out, c)
		}
	}
	return out
}

// expect checks that the changes since from are exactly want, each within
// one tick after its expected time.
func (s *sim) expect(from time.Duration, want ...change) {
	s.t.Helper()
	got := s.changesSince(from)
	if len(got) != len(want) {
		s.t.Fatalf("changes since %v = %v, want %v", from, got, want)
	}
	for i, w := range want {
		g := got[i]
		if g.from != w.from || g.to != w.to || g.act != w.act || g.at < from+w.at || g.at > from+w.at+tick {
			s.t.Fatalf("change %d = %v, want %v after %v (+1 tick)", i, g, w, from)
		}
	}
}

func TestSimSteadyLoadKeepsCount(t *testing.T) {
	for _, n := range []int{1, 3, 10} {
		t.Run(fmt.Sprint(n, " replicas"), func(t *testing.T) {
			s := newSim(t, Config{MinReplicas: 1, MaxReplicas: 20}, n)
			// Exactly target_ongoing_requests each, for longer than the
			// downscale delay.
			s.run(11*time.Minute, 2*n)
			s.expect(0)
		})
	}
}

// A step from 1 to 64 concurrent clients: the look-back average crosses the
// target within a second, so the upscale fires UpscaleDelay later, by then
// at the full ceil(64/2) = 32 (bounded by max), and does not overshoot
// while the old replica's average decays.
func TestSimStepUp(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []change
	}{
		{"default delay", Config{MinReplicas: 1, MaxReplicas: 100},
			[]change{{at: 30*s + 500*time.Millisecond, from: 1, to: 32, act: ScaleUp}}},
		{"bounded by max", Config{MinReplicas: 1, MaxReplicas: 10},
			[]change{{at: 30*s + 500*time.Millisecond, from: 1, to: 10, act: ScaleUp}}},
		// With a delay shorter than the window, each step follows the
		// window's average as it climbs: after 5.6 s it is
		// (1 × 24.5 + 64 × 5.5) / 30 ≈ 12.6, so 7 replicas; the next step
		// waits until the average passes 7 × 2 (6.3 s) and 5 s more.
		{"short delay scales in steps", Config{MinReplicas: 1, MaxReplicas: 100, UpscaleDelay: new(5 * s)},
			[]change{
				{at: 5*s + 600*time.Millisecond, from: 1, to: 7, act: ScaleUp},
				{at: 11*s + 300*time.Millisecond, from: 7, to: 13, act: ScaleUp},
				{at: 17*s + 100*time.Millisecond, from: 13, to: 19, act: ScaleUp},
				{at: 22*s + 800*time.Millisecond, from: 19, to: 25, act: ScaleUp},
				{at: 28*s + 500*time.Millisecond, from: 25, to: 31, act: ScaleUp},
				{at: 34*s + 200*time.Millisecond, from: 31, to: 32, act: ScaleUp},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sm := newSim(t, tt.cfg, 1)
			sm.run(60*s, 1)
			sm.expect(0)
			step := sm.el
			sm.run(2*time.Minute, 64) // long after the old replica's history has left the window
			sm.expect(step, tt.want...)
		})
	}
}

// The load drops from 64 clients to 2: the window's average falls below
// 31 × 2 about a second later, the downscale then waits DownscaleDelay
// (600 s) and goes straight to ceil(2/2) = 1.
func TestSimStepDown(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		run  time.Duration
		want []change
	}{
		{"default delay", Config{MinReplicas: 1, MaxReplicas: 100}, 11 * time.Minute,
			[]change{{at: 601*s + 100*time.Millisecond, from: 32, to: 1, act: ScaleDown}}},
		{"min bound", Config{MinReplicas: 4, MaxReplicas: 100, DownscaleDelay: new(120 * s)}, 150 * s,
			[]change{{at: 121*s + 100*time.Millisecond, from: 32, to: 4, act: ScaleDown}}},
		// 32 + 0.5 × (1 − 32) = 16.5 → 17, then 17 + 0.5 × (1 − 17) = 9 ...
		{"downscaling factor halves the step", Config{MinReplicas: 1, MaxReplicas: 100, DownscalingFactor: new(0.5), DownscaleDelay: new(120 * s)}, 250 * s,
			[]change{
				{at: 121*s + 100*time.Millisecond, from: 32, to: 17, act: ScaleDown},
				{at: 241*s + 200*time.Millisecond, from: 17, to: 9, act: ScaleDown},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sm := newSim(t, tt.cfg, 32)
			sm.run(60*s, 64)
			sm.expect(0)
			drop := sm.el
			sm.run(tt.run, 2)
			sm.expect(drop, tt.want...)
		})
	}
}

// Smoothing halves the upscale step: 1 + 0.5 × (32 − 1) = 16.5 → 17, with
// Ray's current and deprecated names alike.
func TestSimSmoothingHalvesStep(t *testing.T) {
	for name, cfg := range map[string]Config{
		"UpscalingFactor":        {UpscalingFactor: new(0.5)},
		"UpscaleSmoothingFactor": {UpscaleSmoothingFactor: new(0.5)},
		"SmoothingFactor":        {SmoothingFactor: 0.5},
	} {
		t.Run(name, func(t *testing.T) {
			cfg.MinReplicas, cfg.MaxReplicas = 1, 100
			sm := newSim(t, cfg, 1)
			sm.run(60*s, 1)
			step := sm.el
			sm.run(31*s, 64)
			sm.expect(step, change{at: 30*s + 500*time.Millisecond, from: 1, to: 17, act: ScaleUp})
		})
	}
}

// Scale to zero after the window has emptied and DownscaleToZeroDelay (or
// DownscaleDelay) has passed, and back to one replica at the first tick
// that sees a request queued.
func TestSimScaleToZeroAndBack(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		start int
		want  []change
	}{
		// Load ends at 0 (reported from the first tick, 0.1 s): while any
		// load is left in the 30 s window one replica is wanted, so the
		// 60 s to-zero delay starts at 30.1 s.
		{"to-zero delay", Config{MaxReplicas: 10, DownscaleToZeroDelay: new(60 * s)}, 1,
			[]change{{at: 90*s + 100*time.Millisecond, from: 1, to: 0, act: ScaleDown}}},
		{"falls back to downscale delay", Config{MaxReplicas: 10, DownscaleDelay: new(120 * s)}, 1,
			[]change{{at: 150*s + 100*time.Millisecond, from: 1, to: 0, act: ScaleDown}}},
		// From 3 at target (6 clients), two replicas are enough once the
		// average is down to 4 (10.1 s); a downscale stops at one (after
		// DownscaleDelay), then one goes to zero after DownscaleToZeroDelay.
		{"three to one to zero", Config{MaxReplicas: 10, DownscaleDelay: new(100 * s), DownscaleToZeroDelay: new(10 * s)}, 3,
			[]change{
				{at: 110*s + 100*time.Millisecond, from: 3, to: 1, act: ScaleDown},
				{at: 120*s + 200*time.Millisecond, from: 1, to: 0, act: ScaleDown},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sm := newSim(t, tt.cfg, tt.start)
			sm.run(60*s, 2*tt.start)
			idle := sm.el
			sm.run(10*time.Minute, 0)
			sm.expect(idle, tt.want...)

			back := sm.el
			sm.run(2*s, 3)
			sm.expect(back, change{at: tick, from: 0, to: 1, act: ScaleFromZero})
		})
	}
}

func TestSimMinReplicasKeepsOne(t *testing.T) {
	sm := newSim(t, Config{MinReplicas: 1, MaxReplicas: 4, DownscaleDelay: new(10 * s)}, 1)
	sm.run(60*s, 1)
	sm.run(30*time.Minute, 0)
	sm.expect(0)
}

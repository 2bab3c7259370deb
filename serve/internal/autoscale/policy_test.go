package autoscale

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func mustPolicy(t testing.TB, cfg Config) *Policy {
	t.Helper()
	p, err := NewPolicy(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// load reports total ongoing requests spread over n replicas at now.
func load(p *Policy, now time.Time, n, total int) {
	for i := range n {
		share := total / n
		if i < total%n {
			share++
		}
		p.Record(rid(i), now, share, 0)
	}
}

func TestSmooth(t *testing.T) {
	tests := []struct {
		name    string
		raw     float64
		running int
		cfg     Config
		want    int
	}{
		{"at target", 3, 3, Config{}, 3},
		{"double", 6, 3, Config{}, 6},
		{"fraction rounds up", 3.2, 3, Config{}, 4},
		{"float noise does not add a replica", 3.0000000001, 3, Config{}, 3},
		{"half up", 32, 1, Config{UpscalingFactor: new(0.5)}, 17},
		{"half down", 1, 32, Config{DownscalingFactor: new(0.5)}, 17},
		{"amplified up", 4, 2, Config{UpscalingFactor: new(2.0)}, 6},
		// ceil(10 + 0.1 × (9 − 10)) = 10: the factor would pin the count, so one goes.
		{"stuck downscale still removes one", 9, 10, Config{DownscalingFactor: new(0.1)}, 9},
		{"light load keeps one", 0.5, 1, Config{}, 1},
		{"no load wants zero", 0, 1, Config{}, 0},
		{"no load from many", 0, 5, Config{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg.WithDefaults()
			if got, _ := smooth(tt.raw, tt.running, &cfg); got != tt.want {
				t.Fatalf("smooth(%v, %d) = %d, want %d", tt.raw, tt.running, got, tt.want)
			}
		})
	}
}

// Decisions with no delay, one report per replica: the bounds.
func TestDecideBounds(t *testing.T) {
	zero := new(time.Duration(0))
	tests := []struct {
		name          string
		cfg           Config
		running, load int
		want          int
		act           Action
	}{
		{"max caps", Config{MinReplicas: 1, MaxReplicas: 10}, 1, 1000, 10, ScaleUp},
		{"min floors", Config{MinReplicas: 2, MaxReplicas: 10}, 5, 0, 2, ScaleDown},
		{"min 0 stops at one", Config{MinReplicas: 0, MaxReplicas: 10}, 5, 0, 1, ScaleDown},
		{"one to zero", Config{MinReplicas: 0, MaxReplicas: 10}, 1, 0, 0, ScaleDown},
		{"target above max moves in at once", Config{MinReplicas: 1, MaxReplicas: 4, UpscaleDelay: new(time.Hour), DownscaleDelay: new(time.Hour)}, 8, 16, 4, Bound},
		{"target below min moves in at once", Config{MinReplicas: 3, MaxReplicas: 4, UpscaleDelay: new(time.Hour), DownscaleDelay: new(time.Hour)}, 1, 2, 3, Bound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.cfg.UpscaleDelay == nil {
				tt.cfg.UpscaleDelay, tt.cfg.DownscaleDelay = zero, zero
			}
			p := mustPolicy(t, tt.cfg)
			load(p, at(0), tt.running, tt.load)
			d := p.Decide(at(s), tt.running)
			if d.Desired != tt.want || d.Action != tt.act {
				t.Fatalf("Decide = %d (%s), want %d (%s); %s", d.Desired, d.Action, tt.want, tt.act, d.Reason)
			}
		})
	}
}

func TestScaleFromZero(t *testing.T) {
	tests := []struct {
		name            string
		cfg             Config
		running, target int
		queued          int
		want            int
		act             Action
	}{
		{"nothing waiting stays at zero", Config{MaxReplicas: 5}, 0, 0, 0, 0, Hold},
		{"one request wakes one replica", Config{MaxReplicas: 5}, 0, 0, 1, 1, ScaleFromZero},
		{"many requests still one", Config{MaxReplicas: 5}, 0, 0, 500, 1, ScaleFromZero},
		{"upscaling factor", Config{MaxReplicas: 5, UpscalingFactor: new(3.0)}, 0, 0, 1, 3, ScaleFromZero},
		{"factor bounded by max", Config{MaxReplicas: 2, UpscalingFactor: new(3.0)}, 0, 0, 1, 2, ScaleFromZero},
		{"replica already starting", Config{MaxReplicas: 5}, 0, 2, 4, 2, Hold},
		// The delays do not apply from zero.
		{"no delay", Config{MaxReplicas: 5, UpscaleDelay: new(time.Hour)}, 0, 0, 1, 1, ScaleFromZero},
		// Target zero with the last replica still draining its requests.
		{"draining, request queued", Config{MaxReplicas: 5}, 1, 0, 2, 1, ScaleFromZero},
		{"draining, nothing queued", Config{MaxReplicas: 5}, 1, 0, 0, 0, Hold},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPolicy(t, tt.cfg)
			load(p, at(0), tt.running, 3)
			p.RecordQueued("proxy-a", at(0), tt.queued)
			d := p.DecideRunning(at(0), tt.running, tt.target)
			if d.Desired != tt.want || d.Action != tt.act {
				t.Fatalf("Decide = %d (%s), want %d (%s); %s", d.Desired, d.Action, tt.want, tt.act, d.Reason)
			}
		})
	}
}

// The delay runs only while the same direction is wanted without a break.
func TestDelayRestartsWhenDirectionBreaks(t *testing.T) {
	p := mustPolicy(t, Config{MinReplicas: 1, MaxReplicas: 10, LookBackPeriod: tick, UpscaleDelay: new(30 * s)})
	// Each decision sees the report made half a second before it: the
	// 100 ms window then holds that report alone.
	step := func(sec float64, total int) Decision {
		now := at(time.Duration(sec * float64(s)))
		load(p, now.Add(-500*time.Millisecond), 1, total)
		return p.Decide(now, 1)
	}
	for sec := 0.0; sec <= 20; sec++ {
		d := step(sec, 8)
		if d.Action != WaitUp || d.Desired != 1 {
			t.Fatalf("at %vs: %s", sec, d.Reason)
		}
		if want := 30*s - time.Duration(sec)*s; d.Inputs.DelayRemaining != want {
			t.Fatalf("at %vs: remaining %v, want %v", sec, d.Inputs.DelayRemaining, want)
		}
	}
	if d := step(21, 2); d.Action != Hold {
		t.Fatalf("at target: %s", d.Reason)
	}
	for sec := 22.0; sec < 52; sec++ {
		if d := step(sec, 8); d.Action != WaitUp {
			t.Fatalf("at %vs the restarted delay fired early: %s", sec, d.Reason)
		}
	}
	if d := step(52, 8); d.Action != ScaleUp || d.Desired != 4 {
		t.Fatalf("at 52s: %s", d.Reason)
	}
	// A downscale wanted in between also breaks an upscale's delay.
	p2 := mustPolicy(t, Config{MinReplicas: 1, MaxReplicas: 10, LookBackPeriod: tick, UpscaleDelay: new(2 * s), DownscaleDelay: new(time.Hour)})
	for i, tc := range []struct {
		total int
		act   Action
	}{{8, WaitUp}, {0, WaitDown}, {8, WaitUp}} {
		now := at(time.Duration(i) * s)
		load(p2, now.Add(-500*time.Millisecond), 2, tc.total)
		if d := p2.Decide(now, 2); d.Action != tc.act || d.Inputs.Waited != 0 {
			t.Fatalf("decision %d: want %s with the delay restarted: %s", i, tc.act, d.Reason)
		}
	}
}

// While new replicas start, the decision holds the target rather than
// starting the delay again (DecideRunning compares with target).
func TestDecideRunningWhileReplicasStart(t *testing.T) {
	p := mustPolicy(t, Config{MinReplicas: 1, MaxReplicas: 10})
	load(p, at(0), 1, 8) // 8 ongoing on the one running replica
	d := p.DecideRunning(at(s), 1, 4)
	if d.Desired != 4 || d.Action != Hold {
		t.Fatalf("DecideRunning(1 running, target 4) = %d (%s): %s", d.Desired, d.Action, d.Reason)
	}
	if d := p.Decide(at(s), 1); d.Action != WaitUp {
		t.Fatalf("Decide(1) = %s", d.Reason)
	}
}

func TestSetConfig(t *testing.T) {
	p := mustPolicy(t, Config{MinReplicas: 1, MaxReplicas: 10, UpscaleDelay: new(30 * s)})
	load(p, at(0), 1, 8)
	p.Decide(at(0), 1) // starts the upscale delay
	if err := p.SetConfig(Config{MinReplicas: 1, MaxReplicas: 0}); err == nil {
		t.Fatal("SetConfig accepted MaxReplicas 0")
	}
	if got := p.Config().MaxReplicas; got != 10 {
		t.Fatalf("a failed SetConfig changed the config: max %d", got)
	}
	if err := p.SetConfig(Config{MinReplicas: 1, MaxReplicas: 3, UpscaleDelay: new(10 * s)}); err != nil {
		t.Fatal(err)
	}
	// Reports survive, the delay restarts.
	if d := p.Decide(at(5*s), 1); d.Action != WaitUp || d.Inputs.Waited != 0 || d.Inputs.Bounded != 3 {
		t.Fatalf("after SetConfig: %s", d.Reason)
	}
	if d := p.Decide(at(15*s), 1); d.Action != ScaleUp || d.Desired != 3 {
		t.Fatalf("after the new delay: %s", d.Reason)
	}
}

func TestDecisionReason(t *testing.T) {
	p := mustPolicy(t, Config{MinReplicas: 1, MaxReplicas: 100, UpscaleDelay: new(30 * s)})
	load(p, at(0), 1, 64)
	wait := p.Decide(at(0), 1)
	load(p, at(30*s), 1, 64)
	up := p.Decide(at(30*s), 1)
	p.RecordQueued("proxy", at(30*s), 3)
	zero := p.DecideRunning(at(30*s), 0, 0)
	tests := []struct {
		d    Decision
		want []string
	}{
		{wait, []string{"hold 1", "scale up to 32", "0s of 30s", "30s left", "64 ongoing requests", "on 1 replicas", "64/replica", "target 2", "32 wanted"}},
		{up, []string{"scale-up 1→32", "after 30s", "64 ongoing requests", "target 2"}},
		{zero, []string{"scale from zero 0→1", "3 requests queued at handles", "no replica running"}},
	}
	for _, tt := range tests {
		for _, w := range tt.want {
			if !strings.Contains(tt.d.Reason, w) {
				t.Errorf("reason %q lacks %q", tt.d.Reason, w)
			}
		}
	}
	if !up.Changed() || wait.Changed() {
		t.Errorf("Changed: up %v, wait %v", up.Changed(), wait.Changed())
	}
	if last, ok := p.Last(); !ok || last.Action != ScaleFromZero {
		t.Errorf("Last = %+v, %v", last, ok)
	}
	if up.Inputs.TotalOngoing != 64 || up.Inputs.RawDesired != 32 || up.Inputs.Smoothed != 32 || up.Inputs.Factor != 1 {
		t.Errorf("inputs = %+v", up.Inputs)
	}
}

func TestDecideConcurrentWithRecord(t *testing.T) {
	p := mustPolicy(t, Config{MinReplicas: 1, MaxReplicas: 10})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 5000 {
			p.Record(rid(i%8), at(time.Duration(i)*time.Millisecond), i%4, 0)
		}
	}()
	for i := range 500 {
		p.Decide(at(time.Duration(i)*10*time.Millisecond), 8)
	}
	<-done
}

func BenchmarkDecide100Replicas(b *testing.B) {
	for _, every := range []time.Duration{500 * time.Millisecond, tick} {
		b.Run(fmt.Sprint("reports every ", every), func(b *testing.B) {
			p := mustPolicy(b, Config{MinReplicas: 1, MaxReplicas: 200})
			var now time.Time
			for el := time.Duration(0); el <= 30*s; el += every {
				now = at(el)
				load(p, now, 100, 200+int(el/s))
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				p.Decide(now, 100)
			}
		})
	}
}

func BenchmarkRecord(b *testing.B) {
	p := mustPolicy(b, Config{MinReplicas: 1, MaxReplicas: 200})
	ids := make([]string, 100)
	for i := range ids {
		ids[i] = rid(i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p.Record(ids[i%100], at(time.Duration(i)*time.Millisecond), i%7, 0)
		i++
	}
}

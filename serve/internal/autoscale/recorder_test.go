package autoscale

import (
	"fmt"
	"math"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

const s = time.Second

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestRecorderWindow(t *testing.T) {
	type rep struct {
		at      time.Duration
		ongoing int
	}
	tests := []struct {
		name string
		agg  Aggregation
		reps []rep
		now  time.Duration
		want float64
	}{
		{"single report at now", "", []rep{{10 * s, 4}}, 10 * s, 4},
		{"constant", "", []rep{{0, 3}, {10 * s, 3}, {20 * s, 3}}, 25 * s, 3},
		// 2 for 10 s then 6 for 10 s: time-weighted mean 4.
		{"step mean", "", []rep{{0, 2}, {10 * s, 6}}, 20 * s, 4},
		// The window is the last 30 s, [40 s, 70 s]: all 0.
		{"old reports leave the window", "", []rep{{0, 100}, {40 * s, 0}}, 70 * s, 0},
		// Window [30, 60]: 100 from 30 to 40, 0 from 40 to 60 → 1000/30.
		{"value at window start carried", "", []rep{{0, 100}, {40 * s, 0}}, 60 * s, 100.0 / 3},
		{"max", AggregationMax, []rep{{0, 1}, {10 * s, 9}, {20 * s, 2}}, 25 * s, 9},
		{"min", AggregationMin, []rep{{0, 1}, {10 * s, 9}, {20 * s, 2}}, 25 * s, 1},
		{"max ignores reports before the window", AggregationMax, []rep{{0, 50}, {10 * s, 1}}, 45 * s, 1},
		// A late, out-of-order report is dropped: the newest wins.
		{"out of order dropped", "", []rep{{10 * s, 5}, {5 * s, 100}}, 10 * s, 5},
		{"same time replaces", "", []rep{{10 * s, 5}, {10 * s, 7}}, 10 * s, 7},
		{"negative counts are zero", "", []rep{{0, -3}}, 5 * s, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRecorder(Config{Aggregation: tt.agg})
			for _, x := range tt.reps {
				r.Record("r1", at(x.at), x.ongoing, 0)
			}
			got := r.Load(at(tt.now))
			if !near(got.Replicas, tt.want) || got.Total() != got.Replicas {
				t.Fatalf("load = %+v, want replicas %v", got, tt.want)
			}
		})
	}
}

func TestRecorderSumsSourcesAndQueued(t *testing.T) {
	r := NewRecorder(Config{})
	r.Record("a", at(0), 2, 1)
	r.Record("b", at(0), 4, 0)
	r.RecordQueued("proxy-1", at(0), 5)
	l := r.Load(at(s))
	if l.Replicas != 7 || l.Queued != 5 || l.Total() != 12 || l.ReplicaSources != 2 || l.HandleSources != 1 {
		t.Fatalf("load = %+v", l)
	}
	r.DropReplica("a")
	if l := r.Load(at(s)); l.Replicas != 4 {
		t.Fatalf("after drop: %+v", l)
	}
}

func TestRecorderForgetsSilentHandles(t *testing.T) {
	r := NewRecorder(Config{MetricsInterval: 10 * s}) // timeout 20 s
	r.RecordQueued("h", at(0), 3)
	r.Record("r", at(0), 1, 0)
	if l := r.Load(at(19 * s)); l.HandleSources != 1 {
		t.Fatalf("handle forgotten too early: %+v", l)
	}
	if l := r.Load(at(21 * s)); l.HandleSources != 0 || l.Queued != 0 {
		t.Fatalf("silent handle kept: %+v", l)
	}
	if reps, hs := r.Sources(); reps != 1 || hs != 0 {
		t.Fatalf("sources = %d replicas, %d handles; replicas are kept until dropped", reps, hs)
	}
}

// Reports are trimmed to the look-back period and capped, so memory does
// not grow with the number of reports.
func TestRecorderBoundedMemory(t *testing.T) {
	tests := []struct {
		name  string
		every time.Duration
		max   int
	}{
		{"trimmed to the window", 100 * time.Millisecond, 301 + 1},
		{"capped", time.Millisecond, MaxSamplesPerSource},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRecorder(Config{LookBackPeriod: 30 * s})
			for i := range 60_000 {
				r.Record("r", at(time.Duration(i)*tt.every), i%7, 0)
			}
			x := r.replicas["r"]
			if x.len() > tt.max || cap(x.s) > 4*tt.max {
				t.Fatalf("live %d, cap %d; want at most %d live", x.len(), cap(x.s), tt.max)
			}
		})
	}
}

func TestRecorderConcurrent(t *testing.T) {
	r := NewRecorder(Config{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			id := fmt.Sprint("r", w)
			for i := range 2000 {
				r.Record(id, at(time.Duration(i)*time.Millisecond), i%5, 0)
				r.RecordQueued("h", at(time.Duration(i)*time.Millisecond), 1)
			}
		})
	}
	wg.Go(func() {
		for i := range 500 {
			r.Load(at(time.Duration(i) * time.Millisecond))
		}
	})
	wg.Wait()
	if reps, hs := r.Sources(); reps != 4 || hs != 1 {
		t.Fatalf("sources %d/%d", reps, hs)
	}
}

// A stopped replica's reports keep counting until they leave the window,
// so moving load between replicas leaves the average total unchanged.
func TestRecorderDroppedReplicaCountsUntilItLeavesTheWindow(t *testing.T) {
	r := NewRecorder(Config{LookBackPeriod: 30 * s})
	for _, id := range []string{"a", "b"} {
		r.Record(id, at(0), 4, 0)
		r.Record(id, at(29*s), 4, 0)
	}
	r.DropReplica("b") // b's load moves to a
	r.Record("a", at(30*s), 8, 0)
	// Window [10 s, 40 s]: a 4×20 + 8×10, b 4×19 (until its last report).
	if l := r.Load(at(40 * s)); !near(l.Replicas, (160.0+76)/30) || l.ReplicaSources != 1 {
		t.Fatalf("load = %+v, want %v", l, (160.0+76)/30)
	}
	if l := r.Load(at(70 * s)); l.Replicas != 8 || len(r.gone) != 0 {
		t.Fatalf("b not pruned after leaving the window: %+v, %d gone", l, len(r.gone))
	}
	// The name is free again at once.
	r.Record("b", at(70*s), 2, 0)
	if l := r.Load(at(70 * s)); l.LatestReplicas != 10 {
		t.Fatalf("reused id: %+v", l)
	}
}

// Configure keeps the reports: a config update does not blind the policy.
func TestRecorderConfigureKeepsReports(t *testing.T) {
	r := NewRecorder(Config{})
	r.Record("a", at(0), 6, 0)
	r.Configure(Config{LookBackPeriod: 10 * s, Aggregation: AggregationMax})
	if l := r.Load(at(5 * s)); l.Replicas != 6 {
		t.Fatalf("load after Configure = %+v", l)
	}
}

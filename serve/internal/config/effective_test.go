package config

import (
	"reflect"
	"testing"
	"time"
)

func TestEffective(t *testing.T) {
	d := func(v time.Duration) *time.Duration { return &v }
	cases := []struct {
		name string
		in   *AutoscalingConfig
		auto bool
		want AutoscalingConfig
	}{
		{"nil takes Ray's defaults", nil, false, AutoscalingConfig{
			MinReplicas: ptr(1), MaxReplicas: ptr(1), InitialReplicas: ptr(1), TargetOngoingRequests: ptr(2.0),
			MetricsInterval: d(10 * time.Second), LookBackPeriod: d(30 * time.Second), SmoothingFactor: ptr(1.0),
			UpscaleSmoothingFactor: ptr(1.0), DownscaleSmoothingFactor: ptr(1.0), UpscalingFactor: ptr(1.0), DownscalingFactor: ptr(1.0),
			UpscaleDelay: d(30 * time.Second), DownscaleDelay: d(600 * time.Second), DownscaleToZeroDelay: d(600 * time.Second),
			AggregationFunction: ptr("mean"),
		}},
		{"auto raises max; fallbacks chain", &AutoscalingConfig{MinReplicas: ptr(0), SmoothingFactor: ptr(3.0), DownscaleSmoothingFactor: ptr(0.5),
			DownscaleDelay: d(time.Minute)}, true, AutoscalingConfig{
			MinReplicas: ptr(0), MaxReplicas: ptr(100), InitialReplicas: ptr(0), TargetOngoingRequests: ptr(2.0),
			MetricsInterval: d(10 * time.Second), LookBackPeriod: d(30 * time.Second), SmoothingFactor: ptr(3.0),
			UpscaleSmoothingFactor: ptr(3.0), DownscaleSmoothingFactor: ptr(0.5), UpscalingFactor: ptr(3.0), DownscalingFactor: ptr(0.5),
			UpscaleDelay: d(30 * time.Second), DownscaleDelay: d(time.Minute), DownscaleToZeroDelay: d(time.Minute),
			AggregationFunction: ptr("mean"),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var before AutoscalingConfig
			if tc.in != nil {
				before = *tc.in
			}
			got := tc.in.Effective(tc.auto)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
			if tc.in != nil && !reflect.DeepEqual(*tc.in, before) {
				t.Fatal("Effective changed its receiver")
			}
		})
	}
}

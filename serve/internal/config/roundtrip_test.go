package config

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestRoundTrip: Parse(Marshal(c)) gives c back, and Marshal is stable.
func TestRoundTrip(t *testing.T) {
	for _, f := range []string{"testdata/full.yaml", "testdata/ray_serve_build.yaml"} {
		t.Run(f, func(t *testing.T) {
			c, err := ParseFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out, err := c.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			back, err := Parse(out)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			c.Warnings, back.Warnings = nil, nil
			if !reflect.DeepEqual(c, back) {
				t.Fatalf("round trip changed the config:\n%s\ngot  %#v\nwant %#v", out, back, c)
			}
			again, err := back.Marshal()
			if err != nil || !bytes.Equal(out, again) {
				t.Fatalf("Marshal is not stable (%v):\n%s\n---\n%s", err, out, again)
			}
		})
	}
}

// TestRoundTripValues covers values whose YAML form could change their type
// or their precision on the way back.
func TestRoundTripValues(t *testing.T) {
	d := func(v time.Duration) *time.Duration { return &v }
	c := &Config{
		ProxyLocation: Disabled,
		HTTPOptions:   HTTPOptions{Host: "::1", Port: 0, RequestTimeout: d(1500 * time.Microsecond), KeepAliveTimeout: 123456789 * time.Nanosecond},
		Applications: []Application{{
			Name: "123", RoutePrefix: "/v1", ImportPath: "true",
			Args: map[string]any{
				"float one": 1.0, "int": int64(-7), "big float": 1e21, "tiny": 1e-9, "str int": "42", "str bool": "yes",
				"str null": "null", "empty": "", "list": []any{nil, false, "x: y", "- z"}, "map": map[string]any{},
				"multi\nline": "a\nb", "unicode": "ĉu ✓",
			},
			Deployments: []Deployment{{
				Name: "null", NumReplicas: &NumReplicas{Count: 0}, UserConfig: []any{1.0, int64(1)},
				HealthCheckPeriod: d(100 * time.Millisecond), GracefulShutdownTimeout: d(0),
				ActorOptions: &ActorOptions{NumCPUs: ptr(0.1), Memory: ptr(int64(1) << 40), Resources: map[string]float64{"a.b/c": 0.25}},
			}},
		}},
	}
	out, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !reflect.DeepEqual(c, back) {
		t.Fatalf("round trip changed the config:\n%s\ngot  %#v\nwant %#v", out, back, c)
	}
}

// TestMarshalGoValues: free-form values built in Go (not by Parse) are
// written as JSON-like YAML: typed slices and maps, other integer sizes.
func TestMarshalGoValues(t *testing.T) {
	c := &Config{ProxyLocation: EveryNode, HTTPOptions: defaultHTTP(), Applications: []Application{{
		Name: "a", RoutePrefix: "/", ImportPath: "a",
		Deployments: []Deployment{{Name: "D", UserConfig: map[string][]int32{"k": {1, 2}}}},
	}}}
	out, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"k": []any{int64(1), int64(2)}}
	if got := back.Applications[0].Deployments[0].UserConfig; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v, want %#v", got, want)
	}

	c.Applications[0].Deployments[0].UserConfig = map[string]any{"c": make(chan int)}
	_, err = c.Marshal()
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "applications[0].deployments[0].user_config.c: cannot write a value of type chan int") {
		t.Fatalf("err = %v", err)
	}
}

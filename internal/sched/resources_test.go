package sched

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestFromFloat(t *testing.T) {
	tests := []struct {
		name    string
		in      map[string]float64
		want    Resources
		wantErr error // nil: no error; errAny: any error
	}{
		{"empty", map[string]float64{}, Resources{}, nil},
		{"whole and fractional", map[string]float64{"CPU": 1.5, "GPU": 1}, Resources{"CPU": 15000, "GPU": 10000}, nil},
		{"rounds to nearest unit", map[string]float64{"CPU": 0.33333, "mem": 0.00006}, Resources{"CPU": 3333, "mem": 1}, nil},
		{"rounds up at half", map[string]float64{"CPU": 0.00005}, Resources{"CPU": 1}, nil},
		{"zero dropped", map[string]float64{"CPU": 0, "GPU": 2}, Resources{"GPU": 20000}, nil},
		{"rounds to zero dropped", map[string]float64{"CPU": 0.00001}, Resources{}, nil},
		{"negative", map[string]float64{"CPU": -1}, nil, ErrNegativeResource},
		{"tiny negative", map[string]float64{"CPU": -0.000001}, nil, ErrNegativeResource},
		{"empty name", map[string]float64{"": 1}, nil, ErrInvalidResourceName},
		{"NaN", map[string]float64{"CPU": math.NaN()}, nil, errAny},
		{"+Inf", map[string]float64{"CPU": math.Inf(1)}, nil, errAny},
		{"-Inf", map[string]float64{"CPU": math.Inf(-1)}, nil, errAny},
		{"overflow", map[string]float64{"CPU": 1e300}, nil, errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FromFloat(tt.in)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.wantErr == errAny && err == nil, tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

var errAny = errors.New("any error")

func TestFromFloatNegativeNamesResource(t *testing.T) {
	_, err := FromFloat(map[string]float64{"special": -2})
	if err == nil || !errors.Is(err, ErrNegativeResource) {
		t.Fatalf("err = %v", err)
	}
	if want := `"special"`; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not name %s", err, want)
	}
}

func TestToFloatRoundTrip(t *testing.T) {
	in := map[string]float64{"CPU": 0.5, "GPU": 2, "special": 0.0001}
	r, err := FromFloat(in)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.ToFloat(); !reflect.DeepEqual(got, in) {
		t.Fatalf("got %v, want %v", got, in)
	}
}

func TestFitsIn(t *testing.T) {
	tests := []struct {
		name       string
		req, avail Resources
		want       bool
	}{
		{"both empty", Resources{}, Resources{}, true},
		{"nil request", nil, Resources{"CPU": 1}, true},
		{"exact fit", Resources{"CPU": 10000}, Resources{"CPU": 10000}, true},
		{"too big", Resources{"CPU": 10001}, Resources{"CPU": 10000}, false},
		{"missing key in avail", Resources{"GPU": 1}, Resources{"CPU": 10000}, false},
		{"zero request for missing key", Resources{"GPU": 0, "CPU": 1}, Resources{"CPU": 10000}, true},
		{"extra avail keys ignored", Resources{"CPU": 5000}, Resources{"CPU": 5000, "GPU": 10000}, true},
		{"nil avail", Resources{"CPU": 1}, nil, false},
		{"one of several fails", Resources{"CPU": 1, "GPU": 20000}, Resources{"CPU": 10000, "GPU": 10000}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.req.FitsIn(tt.avail); got != tt.want {
				t.Fatalf("%v.FitsIn(%v) = %v, want %v", tt.req, tt.avail, got, tt.want)
			}
		})
	}
}

func TestAddSub(t *testing.T) {
	tests := []struct {
		name     string
		r, o     Resources
		wantAdd  Resources
		wantSub  Resources
		startSub Resources
	}{
		{
			name: "fractions add exactly",
			r:    Resources{"CPU": 5000}, o: Resources{"CPU": 5000, "GPU": 10000},
			wantAdd:  Resources{"CPU": 10000, "GPU": 10000},
			startSub: Resources{"CPU": 10000, "GPU": 10000}, wantSub: Resources{"CPU": 5000, "GPU": 0},
		},
		{
			name: "empty other",
			r:    Resources{"CPU": 1}, o: Resources{},
			wantAdd:  Resources{"CPU": 1},
			startSub: Resources{"CPU": 1}, wantSub: Resources{"CPU": 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.r.Clone()
			r.Add(tt.o)
			if !reflect.DeepEqual(r, tt.wantAdd) {
				t.Fatalf("Add: got %v, want %v", r, tt.wantAdd)
			}
			s := tt.startSub.Clone()
			s.Sub(tt.o)
			if !reflect.DeepEqual(s, tt.wantSub) {
				t.Fatalf("Sub: got %v, want %v", s, tt.wantSub)
			}
		})
	}
	// Ten additions of 0.1 CPU must equal exactly 1 CPU, which float64 cannot do.
	tenth, _ := FromFloat(map[string]float64{"CPU": 0.1})
	sum := Resources{}
	for range 10 {
		sum.Add(tenth)
	}
	if sum["CPU"] != Unit {
		t.Fatalf("10 x 0.1 CPU = %d units, want %d", sum["CPU"], Unit)
	}
	for range 10 {
		sum.Sub(tenth)
	}
	if v, ok := sum["CPU"]; !ok || v != 0 || !sum.IsZero() {
		t.Fatalf("after subtracting back: %v (zero entries must be kept)", sum)
	}
}

func TestCloneIsIndependent(t *testing.T) {
	r := Resources{"CPU": 1}
	c := r.Clone()
	c["CPU"] = 2
	if r["CPU"] != 1 {
		t.Fatal("Clone shares storage")
	}
	var nilR Resources
	if c := nilR.Clone(); c == nil {
		t.Fatal("Clone of nil must be non-nil")
	}
}

func TestIsZero(t *testing.T) {
	tests := []struct {
		r    Resources
		want bool
	}{
		{nil, true},
		{Resources{}, true},
		{Resources{"CPU": 0}, true},
		{Resources{"CPU": 0, "GPU": 1}, false},
	}
	for _, tt := range tests {
		if got := tt.r.IsZero(); got != tt.want {
			t.Errorf("%v.IsZero() = %v, want %v", tt.r, got, tt.want)
		}
	}
}

func TestString(t *testing.T) {
	tests := []struct {
		r    Resources
		want string
	}{
		{nil, "{}"},
		{Resources{}, "{}"},
		{Resources{"special": 10000, "CPU": 15000}, "{CPU: 1.5, special: 1}"},
		{Resources{"memory": 1, "GPU": 0}, "{GPU: 0, memory: 0.0001}"},
	}
	for _, tt := range tests {
		if got := tt.r.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

package protocol

import (
	"errors"
	"strings"
	"testing"

	"github.com/rayo-dev/rayo/internal/errs"
)

func TestEnvList(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   map[string]string
		want []string
		bad  bool
	}{
		{name: "empty", in: nil, want: nil},
		{name: "sorted by name", in: map[string]string{"A-": "2", "A": "1", "B": "=x"}, want: []string{"A=1", "A-=2", "B==x"}},
		{name: "empty value", in: map[string]string{"A": ""}, want: []string{"A="}},
		{name: "empty name", in: map[string]string{"": "s3cret"}, bad: true},
		{name: "'=' in name", in: map[string]string{"A=B": "s3cret"}, bad: true},
		{name: "NUL in name", in: map[string]string{"A\x00": "s3cret"}, bad: true},
		{name: "NUL in value", in: map[string]string{"A": "s3c\x00ret"}, bad: true},
		{name: "rayo's own", in: map[string]string{"RAYO_TOKEN": "s3cret"}, bad: true},
		{name: "GPUs", in: map[string]string{"CUDA_VISIBLE_DEVICES": "0"}, bad: true},
	} {
		got, err := EnvList(tc.in)
		if tc.bad {
			if !errors.Is(err, errs.ErrInvalidOption) {
				t.Errorf("%s: %v, want ErrInvalidOption", tc.name, err)
			} else if strings.Contains(err.Error(), "s3c") {
				t.Errorf("%s: the error shows the value: %v", tc.name, err)
			}
			continue
		}
		if err != nil || strings.Join(got, "|") != strings.Join(tc.want, "|") || (got == nil) != (tc.want == nil) {
			t.Errorf("%s: %q, %v; want %q", tc.name, got, err, tc.want)
			continue
		}
		if err := CheckEnv(got); err != nil {
			t.Errorf("%s: CheckEnv of EnvList's output: %v", tc.name, err)
		}
	}
}

func TestEnvKey(t *testing.T) {
	if EnvKey("t", nil) != "" {
		t.Error("no environment has a key")
	}
	a, b := EnvKey("t", []string{"A=1"}), EnvKey("t", []string{"A=2"})
	if a == "" || a == b || a != EnvKey("t", []string{"A=1"}) {
		t.Errorf("keys %q %q", a, b)
	}
	// Entry boundaries count: {"A=1", "B=2"} is not {"A=1B=2"}.
	if EnvKey("t", []string{"A=1", "B=2"}) == EnvKey("t", []string{"A=1B=2"}) {
		t.Error("two environments share a key")
	}
	// Keyed by the token: another cluster's key for the same values differs.
	if EnvKey("t", []string{"A=1"}) == EnvKey("u", []string{"A=1"}) {
		t.Fatal("EnvKey does not depend on the token")
	}
	if strings.Contains(EnvKey("t", []string{"A=s3cret"}), "s3cret") {
		t.Error("the key shows the value")
	}
}

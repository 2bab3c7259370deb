package cli

import (
	"bytes"
	"strings"
	"testing"
)

func TestStartRejectsBadFlags(t *testing.T) {
	cases := map[string][]string{
		"neither head nor address": {"start", "--block"},
		"both head and address":    {"start", "--head", "--address", "127.0.0.1:1"},
		"resources not JSON":       {"start", "--head", "--resources", "special=1"},
		"CPU in resources":         {"start", "--head", "--resources", `{"CPU": 1}`},
		"negative resource":        {"start", "--head", "--resources", `{"special": -1}`},
		"label without value":      {"start", "--head", "--labels", "zone"},
		"bad port":                 {"start", "--head", "--port", "70000"},
		"bad node ip":              {"start", "--head", "--node-ip-address", "localhost:1"},
		"unknown flag":             {"start", "--head", "--frobnicate"},
	}
	for name, args := range cases {
		var out, errb bytes.Buffer
		args = append(args, "--temp-dir", t.TempDir())
		if code := Main(args, &out, &errb); code == 0 {
			t.Errorf("%s: exit 0, want an error", name)
		}
		if !strings.Contains(errb.String(), "rayo:") {
			t.Errorf("%s: no error message, stderr %q", name, errb.String())
		}
	}
}

func TestStatusWithoutClusterIsClear(t *testing.T) {
	var out, errb bytes.Buffer
	t.Setenv("RAYO_ADDRESS", "")
	t.Setenv("RAYO_TOKEN", "")
	if code := Main([]string{"status", "--temp-dir", t.TempDir()}, &out, &errb); code == 0 {
		t.Fatal("status with no cluster succeeded")
	}
	if !strings.Contains(errb.String(), "no running cluster") {
		t.Fatalf("unclear error: %q", errb.String())
	}
}

func TestStopWithNothingRunning(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main([]string{"stop", "--temp-dir", t.TempDir()}, &out, &errb); code != 0 {
		t.Fatalf("stop: exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "stopped 0") {
		t.Fatalf("stop output: %q", out.String())
	}
}

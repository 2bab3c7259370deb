package cli

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestLogsPick(t *testing.T) {
	rows := []logRow{
		{NodeID: "n1", Filename: "head.log", Kind: "daemon"},
		{NodeID: "n1", Filename: "worker-00000001-n1-10.log", Kind: "worker", JobID: "00000001", Pid: 10},
		{NodeID: "n2", Filename: "worker-00000001-n2-10.log", Kind: "worker", JobID: "00000001", Pid: 10},
		{NodeID: "n2", Filename: "worker-00000002-n2-11.log", Kind: "worker", JobID: "00000002", Pid: 11},
	}
	got, err := pickLogs(rows, workerPid(11), false, "of worker pid 11")
	if err != nil || len(got) != 1 || got[0].NodeID != "n2" {
		t.Fatalf("pid 11: %v %v", got, err)
	}
	// The same pid on two nodes: ambiguous, and the message names both.
	_, err = pickLogs(rows, workerPid(10), false, "of worker pid 10")
	if !errors.Is(err, ErrLogAmbiguous) || !strings.Contains(err.Error(), "worker-00000001-n1-10.log") || !strings.Contains(err.Error(), "worker-00000001-n2-10.log") {
		t.Fatalf("pid 10: %v", err)
	}
	// Nothing: the message lists what there is.
	_, err = pickLogs(rows, workerPid(99), false, "of worker pid 99")
	if !errors.Is(err, ErrLogNotFound) || !strings.Contains(err.Error(), "head.log") {
		t.Fatalf("pid 99: %v", err)
	}
	if _, err = pickLogs(nil, workerPid(99), false, "x"); !errors.Is(err, ErrLogNotFound) {
		t.Fatalf("no files: %v", err)
	}
	// A job's files: all of them.
	got, err = pickLogs(rows, func(r logRow) bool { return r.JobID == "00000001" }, true, "of job 00000001")
	if err != nil || len(got) != 2 {
		t.Fatalf("job 1: %v %v", got, err)
	}
}

func TestLogsRejectsBadFlags(t *testing.T) {
	for name, args := range map[string][]string{
		"two selectors":      {"logs", "head.log", "--pid", "3"},
		"negative tail":      {"logs", "head.log", "--tail", "-1"},
		"bad format":         {"logs", "--format", "yaml"},
		"follow without one": {"logs", "--follow"},
		"two arguments":      {"logs", "a.log", "b.log"},
	} {
		var out, errb bytes.Buffer
		if code := Main(append(args, "--temp-dir", t.TempDir()), &out, &errb); code == 0 || !strings.Contains(errb.String(), "rayo:") {
			t.Errorf("%s: exit %d, stderr %q", name, code, errb.String())
		}
	}
}

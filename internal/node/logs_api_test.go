package node

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
)

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLogWorkerNameRoundTrip(t *testing.T) {
	name := workerLogName("0000002a", "ab12cd34ef567890", 4242)
	if name != "worker-0000002a-ab12cd34ef567890-4242.log" {
		t.Fatalf("workerLogName: %s", name)
	}
	for _, tc := range []struct {
		name      string
		job, node string
		pid       int
		ok        bool
	}{
		{name, "0000002a", "ab12cd34ef567890", 4242, true},
		{"worker-00000001-77.log", "00000001", "", 77, true}, // the older form
		{"worker-00000001-node-x.log", "", "", 0, false},
		{"worker--12.log", "", "", 0, false},
		{"worker-12.log", "", "", 0, false},
		{"worker-00000001-ab-0.log", "", "", 0, false},
		{"node-ab.log", "", "", 0, false},
	} {
		job, node, pid, ok := parseWorkerLogName(tc.name)
		if ok != tc.ok || job != tc.job || node != tc.node || pid != tc.pid {
			t.Errorf("parse %q: %q %q %d %v", tc.name, job, node, pid, ok)
		}
	}
}

// Daemons sharing a logs directory each list their own files; the head
// lists the files of no particular daemon.
func TestLogListingOwnFiles(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string]string{
		"head.log":                            "head\n",
		"node-aaaa.log":                       "a\n",
		"node-bbbb.log":                       "bb\n",
		workerLogName("00000001", "aaaa", 10): "w10\n",
		workerLogName("00000001", "bbbb", 11): "w11\n",
		"driver-99.log":                       "driver\n",
		"notes.txt":                           "other\n",
		".hidden.tmp":                         "x",
	} {
		writeFile(t, filepath.Join(dir, name), data)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub.log"), 0o755); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "secret")
	writeFile(t, outside, "secret\n")
	if err := os.Symlink(outside, filepath.Join(dir, "escape.log")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("head.log", filepath.Join(dir, "inside.log")); err != nil {
		t.Fatal(err)
	}

	names := func(o logOwner) map[string]protocol.LogFileInfo {
		t.Helper()
		files, err := listLogDir(dir, o)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]protocol.LogFileInfo{}
		for _, f := range files {
			m[f.Name] = f
		}
		return m
	}
	head := names(logOwner{nodeID: "aaaa", isHead: true})
	for _, want := range []string{"head.log", "node-aaaa.log", workerLogName("00000001", "aaaa", 10), "driver-99.log", "notes.txt", "inside.log"} {
		if _, ok := head[want]; !ok {
			t.Errorf("the head does not list %s (%v)", want, head)
		}
	}
	for _, not := range []string{"node-bbbb.log", workerLogName("00000001", "bbbb", 11), ".hidden.tmp", "sub.log", "escape.log"} {
		if _, ok := head[not]; ok {
			t.Errorf("the head lists %s", not)
		}
	}
	w := head[workerLogName("00000001", "aaaa", 10)]
	if w.Kind != protocol.LogKindWorker || w.JobID != "00000001" || w.Pid != 10 || w.Size != 4 || w.ModifiedMs == 0 {
		t.Errorf("worker log info: %+v", w)
	}
	if k := head["head.log"].Kind; k != protocol.LogKindDaemon {
		t.Errorf("head.log kind %s", k)
	}
	if k := head["driver-99.log"].Kind; k != protocol.LogKindJob {
		t.Errorf("driver log kind %s", k)
	}
	if k := head["notes.txt"].Kind; k != protocol.LogKindOther {
		t.Errorf("notes.txt kind %s", k)
	}

	other := names(logOwner{nodeID: "bbbb"})
	if len(other) != 2 || other["node-bbbb.log"].Kind != protocol.LogKindDaemon || other[workerLogName("00000001", "bbbb", 11)].Pid != 11 {
		t.Errorf("node bbbb lists %v, want its daemon log and its worker's", other)
	}
}

func TestLogReadRefusesPathsOutOfTheDirectory(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "logs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "token"), "secret\n")
	writeFile(t, filepath.Join(dir, "ok.log"), "fine\n")
	if err := os.Symlink(filepath.Join(root, "token"), filepath.Join(dir, "link.log")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../token", filepath.Join(dir, "rel.log")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"../token", "..", ".", "", "d/../ok.log", "/etc/passwd", `..\token`, "ok.log\x00", "link.log", "rel.log", "d"} {
		r, err := readLog(dir, &protocol.ReadLogRequest{Name: name})
		if err == nil {
			t.Errorf("%q: read %q", name, r.Data)
			continue
		}
		if code := rpc.CodeOf(err); code != rpc.CodeBadRequest {
			t.Errorf("%q: code %q (%v), want bad_request", name, code, err)
		}
	}
	if _, err := readLog(dir, &protocol.ReadLogRequest{Name: "missing.log"}); rpc.CodeOf(err) != protocol.CodeLogNotFound {
		t.Errorf("a missing file: %v", err)
	}
	r, err := readLog(dir, &protocol.ReadLogRequest{Name: "ok.log"})
	if err != nil || string(r.Data) != "fine\n" {
		t.Fatalf("ok.log: %+v %v", r, err)
	}
}

func TestLogReadRangesAndBound(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.log"), "0123456789")
	for _, tc := range []struct {
		off, n int64
		want   string
	}{
		{0, 0, "0123456789"}, {2, 3, "234"}, {8, 100, "89"}, {10, 5, ""}, {50, 5, ""},
	} {
		r, err := readLog(dir, &protocol.ReadLogRequest{Name: "a.log", Offset: tc.off, Len: tc.n})
		if err != nil || string(r.Data) != tc.want || r.Size != 10 || r.Offset != tc.off {
			t.Errorf("range %d+%d: %+v %v, want %q", tc.off, tc.n, r, err, tc.want)
		}
	}
	if _, err := readLog(dir, &protocol.ReadLogRequest{Name: "a.log", Offset: -1}); rpc.CodeOf(err) != rpc.CodeBadRequest {
		t.Errorf("negative offset: %v", err)
	}
	// A reply holds at most MaxLogRead bytes.
	big := strings.Repeat("x", protocol.MaxLogRead+100)
	writeFile(t, filepath.Join(dir, "big.log"), big)
	r, err := readLog(dir, &protocol.ReadLogRequest{Name: "big.log", Len: 10 * protocol.MaxLogRead})
	if err != nil || len(r.Data) != protocol.MaxLogRead || r.Size != int64(len(big)) {
		t.Fatalf("big read: %d bytes, size %d, %v", len(r.Data), r.Size, err)
	}
	r, err = readLog(dir, &protocol.ReadLogRequest{Name: "big.log", Offset: protocol.MaxLogRead})
	if err != nil || len(r.Data) != 100 {
		t.Fatalf("the rest: %d bytes, %v", len(r.Data), err)
	}
}

func TestLogReadTail(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "t.log"), "one\ntwo\nthree\n")
	writeFile(t, filepath.Join(dir, "partial.log"), "one\ntwo\nthr")
	writeFile(t, filepath.Join(dir, "empty.log"), "")
	for _, tc := range []struct {
		file string
		n    int
		want string
	}{
		{"t.log", 1, "three\n"}, {"t.log", 2, "two\nthree\n"}, {"t.log", 3, "one\ntwo\nthree\n"}, {"t.log", 10, "one\ntwo\nthree\n"},
		{"partial.log", 1, "thr"}, {"partial.log", 2, "two\nthr"}, {"empty.log", 5, ""},
	} {
		r, err := readLog(dir, &protocol.ReadLogRequest{Name: tc.file, TailLines: tc.n})
		if err != nil || string(r.Data) != tc.want || r.Truncated || r.Offset+int64(len(r.Data)) != r.Size {
			t.Errorf("%s tail %d: %+v %v, want %q", tc.file, tc.n, r, err, tc.want)
		}
	}
	// Lines spread over several read blocks.
	var b strings.Builder
	for i := range 20000 {
		b.WriteString(strings.Repeat("y", i%50))
		b.WriteString("\n")
	}
	writeFile(t, filepath.Join(dir, "long.log"), b.String())
	r, err := readLog(dir, &protocol.ReadLogRequest{Name: "long.log", TailLines: 5000})
	if err != nil || strings.Count(string(r.Data), "\n") != 5000 || !strings.HasSuffix(b.String(), string(r.Data)) {
		t.Fatalf("tail 5000 of long.log: %d lines, %v", strings.Count(string(r.Data), "\n"), err)
	}
	// A tail longer than the bound: its last MaxLogRead bytes.
	big := strings.Repeat("z", protocol.MaxLogRead+10) + "\nlast\n"
	writeFile(t, filepath.Join(dir, "big.log"), big)
	r, err = readLog(dir, &protocol.ReadLogRequest{Name: "big.log", TailLines: 2})
	if err != nil || !r.Truncated || len(r.Data) != protocol.MaxLogRead || !strings.HasSuffix(string(r.Data), "\nlast\n") {
		t.Fatalf("tail of big.log: %d bytes, truncated %v, %v", len(r.Data), r.Truncated, err)
	}
}

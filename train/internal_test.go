package train

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestRankOrder(t *testing.T) {
	infos := []workerInfo{
		{NodeID: "b", GPUIDs: []int{3}},
		{NodeID: "a", GPUIDs: []int{1}},
		{NodeID: "b", GPUIDs: []int{0}},
		{NodeID: "a", GPUIDs: []int{0}},
		{NodeID: "c"},
	}
	order := rankOrder(infos)
	if !slices.Equal(order, []int{2, 0, 3, 1, 4}) {
		t.Fatalf("order %v", order)
	}
	ctxs := contexts(permute(infos, order), Context{ExperimentName: "x"})
	type got struct{ rank, local, localSize, node, nodes int }
	var g []got
	for _, c := range ctxs {
		g = append(g, got{c.WorldRank, c.LocalRank, c.LocalWorldSize, c.NodeRank, c.NumNodes})
		if c.WorldSize != 5 || c.ExperimentName != "x" {
			t.Fatalf("context %+v", c)
		}
	}
	want := []got{{0, 0, 2, 0, 3}, {1, 1, 2, 0, 3}, {2, 0, 2, 1, 3}, {3, 1, 2, 1, 3}, {4, 0, 1, 2, 3}}
	if !slices.Equal(g, want) {
		t.Fatalf("contexts %v, want %v", g, want)
	}
}

func TestClassify(t *testing.T) {
	lostErr := errors.New("actor died")
	cases := []struct {
		name     string
		finished map[int]*failure
		order    []int // the order they finished
		lost     map[int]error
		kind     error
		rank     int
	}{
		{"all ok", map[int]*failure{0: nil, 1: nil, 2: nil}, []int{0, 1, 2}, nil, nil, 0},
		{"lost beats the echoes", map[int]*failure{0: {PeerLost: true, WaitedOn: -1}}, []int{0}, map[int]error{2: lostErr}, ErrWorkerLost, 2},
		{"a script killed", map[int]*failure{0: {Message: "peer closed", WaitedOn: -1}, 1: {Lost: true, WaitedOn: -1}}, []int{0, 1}, nil, ErrWorkerLost, 1},
		{"own error beats peer lost", map[int]*failure{0: {PeerLost: true, WaitedOn: -1}, 1: {Message: "bad", WaitedOn: -1}, 2: {PeerLost: true, WaitedOn: -1}}, []int{1, 0, 2}, nil, ErrWorkerFailed, 1},
		// The first own error is the cause, whatever the ranks.
		{"first own error", map[int]*failure{0: {Message: "later", WaitedOn: -1}, 2: {Message: "first", WaitedOn: -1}}, []int{2, 0}, nil, ErrWorkerFailed, 2},
		// Rank 2 hangs: rank 0 times out waiting for it, rank 1 waiting
		// for rank 0 (which itself timed out) is an echo.
		{"hung rank named", map[int]*failure{0: {Timeout: true, WaitedOn: 2}, 1: {Timeout: true, WaitedOn: 0}}, []int{0, 1}, nil, ErrWorkerHung, 2},
		{"hung script: the rank that never ended", map[int]*failure{0: {Timeout: true, WaitedOn: -1}, 2: {Timeout: true, WaitedOn: -1}}, []int{0, 2}, nil, ErrWorkerHung, 1},
		// Rank 1 was slow, then failed on its own: its error, not a hang.
		{"waited-on rank's own error", map[int]*failure{0: {Timeout: true, WaitedOn: 1}, 1: {Message: "file not found", WaitedOn: -1}, 2: nil}, []int{0, 2, 1}, nil, ErrWorkerFailed, 1},
		// Rank 1 ran one collective more than the others, which ended
		// cleanly: a bug in the loop, not a lost peer.
		{"collectives differ", map[int]*failure{0: nil, 1: {PeerLost: true, WaitedOn: -1}, 2: nil}, []int{0, 2, 1}, nil, ErrWorkerFailed, 1},
		{"peer lost while another still runs", map[int]*failure{0: nil, 1: {PeerLost: true, WaitedOn: -1}}, []int{0, 1}, nil, ErrWorkerLost, 1},
		{"one never finished", map[int]*failure{0: nil, 2: nil}, []int{0, 2}, nil, ErrWorkerHung, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := classify(3, c.finished, c.lost, c.order)
			if c.kind == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var we *WorkerError
			if !errors.Is(err, c.kind) || !errors.As(err, &we) || we.Rank != c.rank {
				t.Fatalf("got %v, want %v of rank %d", err, c.kind, c.rank)
			}
		})
	}
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func packed(t *testing.T, files map[string]string) []byte {
	dir := t.TempDir()
	for name, body := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	b, err := packDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestStorageKeepsBestAndLatest(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	s, err := openStorage(dir, CheckpointConfig{NumToKeep: 2, ScoreAttribute: "acc", Order: Max}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	for round, acc := range []float64{0.5, 0.9, 0.7, 0.8, 0.1} {
		s.submit(roundJob{rep: Reported{Round: round, Metrics: map[string]any{"acc": acc}}, parts: [][]byte{packed(t, map[string]string{"w": "x", "sub/y": "z"})}})
	}
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	names := dirNames(t, dir)
	// Best two by acc: rounds 1 and 3; round 4 is the latest.
	if !slices.Equal(names, []string{"checkpoint_000001", "checkpoint_000003", "checkpoint_000004", "result.json"}) {
		t.Fatalf("kept %v", names)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "checkpoint_000003", "sub", "y")); err != nil || string(b) != "z" {
		t.Fatalf("checkpoint content %q, %v", b, err)
	}
	r := &Result{}
	r.fill(s)
	if len(r.MetricsHistory) != 5 || filepath.Base(r.Checkpoint.Path()) != "checkpoint_000004" ||
		filepath.Base(r.BestCheckpoints[0].Checkpoint.Path()) != "checkpoint_000001" {
		t.Fatalf("result %+v", r)
	}
}

// A write that fails leaves the checkpoints already there as they were,
// and nothing half-written under their names.
func TestStorageFailedWriteKeepsThePrevious(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	s, err := openStorage(dir, CheckpointConfig{}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	s.submit(roundJob{rep: Reported{Round: 0}, parts: [][]byte{packed(t, map[string]string{"w": "good"})}})
	s.submit(roundJob{rep: Reported{Round: 1}, parts: [][]byte{[]byte("not a tar stream, long enough to be read as a bad header ........................................................................................................................................................................................................................................................................................................................................................................................................................................................................................................................")}})
	if err := s.close(); !errors.Is(err, ErrStorage) {
		t.Fatalf("close: %v", err)
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"checkpoint_000000", "result.json"}) {
		t.Fatalf("left %v", names)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "checkpoint_000000", "w")); string(b) != "good" {
		t.Fatalf("previous checkpoint changed: %q", b)
	}
	if l, ok := s.latest(); !ok || l.Round != 0 {
		t.Fatalf("latest %+v", l)
	}
}

// A restart that writes a round's checkpoint again swaps it in whole.
func TestStorageReplacesARound(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	s, err := openStorage(dir, CheckpointConfig{}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	s.submit(roundJob{rep: Reported{Round: 2, Attempt: 0}, parts: [][]byte{packed(t, map[string]string{"old": "1"})}})
	s.submit(roundJob{rep: Reported{Round: 2, Attempt: 1}, parts: [][]byte{packed(t, map[string]string{"new": "1"})}})
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "checkpoint_000002"))
	if len(entries) != 1 || entries[0].Name() != "new" {
		t.Fatalf("checkpoint_000002 holds %v", entries)
	}
	if all := dirNames(t, dir); len(all) != 2 {
		t.Fatalf("run directory %v", all)
	}
}

func TestOpenStorageCleansUp(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{".tmp-checkpoint_000003-123", ".staging/attempt_0/checkpoint_000001", "checkpoint_000001"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	s, err := openStorage(dir, CheckpointConfig{}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"checkpoint_000001"}) {
		t.Fatalf("left %v", names)
	}
}

// dirNames lists dir without the lock file a Fit holds.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.Name() != lockFile {
			names = append(names, e.Name())
		}
	}
	return names
}

func TestUnpackRefusesEscapes(t *testing.T) {
	for _, name := range []string{"../f", "/etc/f", "a/../../f"} {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o600, Size: 1}); err != nil {
			t.Fatal(err)
		}
		_, _ = tw.Write([]byte("x"))
		_ = tw.Close()
		parent := t.TempDir()
		dir := filepath.Join(parent, "ck")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := unpackInto(dir, buf.Bytes()); err == nil {
			t.Fatalf("entry %q leaving the directory was written", name)
		}
		if _, err := os.Stat(filepath.Join(parent, "f")); err == nil {
			t.Fatalf("entry %q was written outside", name)
		}
	}
	src := t.TempDir()
	if err := os.Symlink("/etc/passwd", filepath.Join(src, "link")); err != nil {
		t.Fatal(err)
	}
	if _, err := packDir(src); err == nil {
		t.Fatal("a link was packed")
	}
}

// A Fit that reuses a run's directory counts the checkpoints already
// there: retention prunes them, and they are the latest until replaced.
func TestStorageContinuesARun(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	cfg := CheckpointConfig{NumToKeep: 1}
	s, err := openStorage(dir, cfg, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	s.submit(roundJob{rep: Reported{Round: 0}, parts: [][]byte{packed(t, map[string]string{"w": "0"})}})
	s.submit(roundJob{rep: Reported{Round: 1}})
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	s, err = openStorage(dir, cfg, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	// The earlier Fit's checkpoint counts for retention, but a restart
	// of this Fit never starts from it.
	if l, ok := s.latest(); ok {
		t.Fatalf("latest before this Fit wrote one: %+v", l)
	}
	s.submit(roundJob{rep: Reported{Round: 5}, parts: [][]byte{packed(t, map[string]string{"w": "5"})}})
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	if l, ok := s.latest(); !ok || l.Round != 5 {
		t.Fatalf("latest %+v %v", l, ok)
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"checkpoint_000005", "result.json"}) {
		t.Fatalf("left %v", names)
	}
	b, _ := os.ReadFile(filepath.Join(dir, resultFile))
	if n := bytes.Count(b, []byte("\n")); n != 3 {
		t.Fatalf("result.json has %d lines", n)
	}
}

// A worker removes the private directories of workers that are gone
// (killed with their group), not those of live processes.
func TestRemoveStaleScratch(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	gone, err := os.MkdirTemp("", fmt.Sprintf("%s%d-", scratchPrefix, dead.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	mine, err := os.MkdirTemp("", fmt.Sprintf("%s%d-", scratchPrefix, os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	other, err := os.MkdirTemp("", scratchPrefix+"x-")
	if err != nil {
		t.Fatal(err)
	}
	removeStaleScratch()
	if _, err := os.Stat(gone); !os.IsNotExist(err) {
		t.Fatalf("the dead worker's directory is still there: %v", err)
	}
	for _, d := range []string{mine, other} {
		if _, err := os.Stat(d); err != nil {
			t.Fatalf("%s was removed: %v", d, err)
		}
	}
}

// One Fit at a time per run directory.
func TestStorageIsLocked(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	s, err := openStorage(dir, CheckpointConfig{}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := openStorage(dir, CheckpointConfig{}, quietLog()); !errors.Is(err, ErrStorage) || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("a second open: %v", err)
	}
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	s, err = openStorage(dir, CheckpointConfig{}, quietLog())
	if err != nil {
		t.Fatalf("after close: %v", err)
	}
	_ = s.close()
}

// result.json names that are not checkpoints' are never taken in (so
// retention cannot remove them).
func TestLoadKeptChecksNames(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	if err := os.MkdirAll(filepath.Join(dir, "checkpoint_000001"), 0o700); err != nil {
		t.Fatal(err)
	}
	lines := `{"round":0,"checkpoint":"."}` + "\n" + `{"round":0,"checkpoint":"../x"}` + "\n" + `{"round":1,"checkpoint":"checkpoint_000001"}` + "\n"
	if err := os.WriteFile(filepath.Join(dir, resultFile), []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := openStorage(dir, CheckpointConfig{}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if len(s.kept) != 1 || s.kept[0].Checkpoint != "checkpoint_000001" {
		t.Fatalf("kept %+v", s.kept)
	}
}

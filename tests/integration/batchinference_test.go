package integration_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rayo-dev/rayo/internal/testcluster"
)

// TestBatchInference runs examples/batchinference on its embedded
// cluster: it makes 2000 images as Parquet, classifies them on an actor
// pool, writes the predictions, reads them back with an accuracy above
// 0.9, exits 0, and leaves neither its temporary directory nor a process
// behind. A corrupt input file fails it with the file's name, no
// predictions written.
func TestBatchInference(t *testing.T) {
	bin := testcluster.BuildProgram(t, "./examples/batchinference")

	t.Run("run", func(t *testing.T) {
		tmp, dir := t.TempDir(), t.TempDir()
		input, output := filepath.Join(dir, "images"), filepath.Join(dir, "predictions")
		p := testcluster.Spawn(t, testcluster.Command{Name: "batchinference", Path: bin, Dir: t.TempDir(),
			Args: []string{"-n", "2000", "-input", input, "-output", output, "-batch", "100"},
			Env:  []string{"RAYO_ADDRESS=", "TMPDIR=" + tmp}})
		if !p.Wait(3 * time.Minute) {
			t.Fatalf("batchinference still running after 3 minutes:\n%s", p.Output())
		}
		out := p.Output()
		if err := p.ExitErr(); err != nil {
			t.Fatalf("batchinference: %v\n%s", err, out)
		}
		if !strings.Contains(out, "made 2000 images in 8 Parquet files") {
			t.Errorf("the output lacks the input it made:\n%s", out)
		}
		m := regexp.MustCompile(`predictions: (\d+) rows, accuracy ([0-9.]+)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no predictions line:\n%s", out)
		}
		if m[1] != "2000" {
			t.Errorf("%s predictions, want 2000:\n%s", m[1], out)
		}
		if acc, err := strconv.ParseFloat(m[2], 64); err != nil || acc <= 0.9 {
			t.Errorf("accuracy %s, want above 0.9:\n%s", m[2], out)
		}
		// Stats after the write name both operators, the model's on a pool.
		if !regexp.MustCompile(`MapBatches\(batchinference.classifier\)\s+rows\s+2000\b.*actors [12]`).MatchString(out) {
			t.Errorf("no Stats line for the classifier with 2000 rows on 1 or 2 actors:\n%s", out)
		}
		files, _ := filepath.Glob(filepath.Join(output, "*.parquet"))
		if want := "output: " + strconv.Itoa(len(files)) + " files in " + output; len(files) == 0 || !strings.Contains(out, want) {
			t.Errorf("%d Parquet files in %s; the output lacks %q:\n%s", len(files), output, want, out)
		}
		if inputs, _ := filepath.Glob(filepath.Join(input, "*.parquet")); len(inputs) != 8 {
			t.Errorf("%d input files, want 8", len(inputs))
		}
		if left, _ := filepath.Glob(filepath.Join(tmp, "rayo-batchinference-*")); len(left) != 0 {
			t.Errorf("temporary directories left behind: %v", left)
		}
		if pids := testcluster.MarkedPids(p.Marker); len(pids) != 0 {
			t.Errorf("processes of batchinference alive after it exited: %v", pids)
		}
	})

	t.Run("corrupt input", func(t *testing.T) {
		dir := t.TempDir()
		input, output := filepath.Join(dir, "images"), filepath.Join(dir, "predictions")
		if err := os.Mkdir(input, 0o755); err != nil {
			t.Fatal(err)
		}
		bad := filepath.Join(input, "part-000000.parquet")
		if err := os.WriteFile(bad, []byte("PAR1 this is not a Parquet file PAR1"), 0o644); err != nil {
			t.Fatal(err)
		}
		p := testcluster.Spawn(t, testcluster.Command{Name: "batchinference", Path: bin, Dir: t.TempDir(),
			Args: []string{"-input", input, "-output", output}, Env: []string{"RAYO_ADDRESS="}})
		if !p.Wait(3 * time.Minute) {
			t.Fatalf("batchinference still running after 3 minutes:\n%s", p.Output())
		}
		out := p.Output()
		if p.ExitErr() == nil {
			t.Fatalf("batchinference exited 0 on a corrupt input file:\n%s", out)
		}
		if !strings.Contains(out, bad) {
			t.Errorf("the error does not name %s:\n%s", bad, out)
		}
		if files, _ := filepath.Glob(filepath.Join(output, "*")); len(files) != 0 {
			t.Errorf("files written after a failed run: %v", files)
		}
		if pids := testcluster.MarkedPids(p.Marker); len(pids) != 0 {
			t.Errorf("processes of batchinference alive after it exited: %v", pids)
		}
	})

	t.Run("bad flags", func(t *testing.T) {
		p := testcluster.Spawn(t, testcluster.Command{Name: "batchinference", Path: bin, Dir: t.TempDir(),
			Args: []string{"-actors", "0"}, Env: []string{"RAYO_ADDRESS="}})
		if !p.Wait(time.Minute) {
			t.Fatalf("batchinference still running after a minute:\n%s", p.Output())
		}
		if p.ExitErr() == nil || !strings.Contains(p.Output(), "must be 1 or more") {
			t.Errorf("-actors 0: exit %v, want a usage error:\n%s", p.ExitErr(), p.Output())
		}
	})
}

//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rayo-dev/rayo/examples/batchinference/mlp"
)

// TestServeExample builds the example and runs it as a real process on
// its embedded cluster: it exits 0; every answer of both applications is
// the model's own prediction on the same image, computed here in one
// forward pass over all of them; and the model saw batches (a mean batch
// size above 1, in its own statistics and in the answers).
func TestServeExample(t *testing.T) {
	bin := buildExample(t)
	const n, seed = 300, 5
	outFile := filepath.Join(t.TempDir(), "predictions.jsonl")
	out, err := runExample(t, 2*time.Minute, nil, bin, "-n", strconv.Itoa(n), "-seed", strconv.Itoa(seed), "-c", "32", "-out", outFile)
	if err != nil {
		t.Fatalf("the example failed: %v\n%s", err, out)
	}
	for _, want := range []string{"/classify: 300 requests, 0 failed", "/pipeline: 300 requests, 0 failed",
		"application classify at /classify: RUNNING", "application pipeline at /pipeline: RUNNING", "serve-example.postprocess"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in the output:\n%s", want, out)
		}
	}
	means := regexp.MustCompile(`(?m)^(classify|pipeline)'s model: (\d+) images in (\d+) forward passes .*mean batch size ([0-9.]+)`).FindAllStringSubmatch(out, -1)
	if len(means) != 2 {
		t.Fatalf("want a batch line per application:\n%s", out)
	}
	for _, m := range means {
		if images, _ := strconv.Atoi(m[2]); images < n {
			t.Errorf("%s's model saw %s images, want %d or more", m[1], m[2], n)
		}
		if mean, _ := strconv.ParseFloat(m[4], 64); mean <= 1 {
			t.Errorf("%s's model: mean batch size %s, want batching (> 1)", m[1], m[4])
		}
	}

	// The model's own answers, in this process.
	x, _ := mlp.Digits(n, seed)
	px := make([]float32, len(x))
	for i, v := range x {
		px[i] = normalise(quantize(v))
	}
	model, err := loadModel()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]float32{}
	for app, in := range map[string][]float32{"classify": x, "pipeline": px} {
		if want[app], err = model.Predict(in, n); err != nil {
			t.Fatal(err)
		}
	}
	recs := readRecords(t, outFile)
	seen := map[string]int{}
	batched := map[string]int{}
	for _, r := range recs {
		probs := want[r.App][r.Image*model.Out : (r.Image+1)*model.Out]
		k := model.Argmax(probs)[0]
		if r.Class != k || math.Abs(float64(r.Confidence-probs[k])) > 1e-5 {
			t.Errorf("%s image %d: served class %d (%v), the model says %d (%v)", r.App, r.Image, r.Class, r.Confidence, k, probs[k])
		}
		seen[r.App]++
		batched[r.App] += r.BatchSize
	}
	for _, app := range []string{"classify", "pipeline"} {
		if seen[app] != n {
			t.Errorf("%s: %d predictions, want %d", app, seen[app], n)
		} else if mean := float64(batched[app]) / float64(n); mean <= 1 {
			t.Errorf("%s: the requests ran in batches of %.2f on average, want > 1", app, mean)
		}
	}
}

// TestServeForever runs the example with -serve-forever: it prints its
// URL, answers requests there (a bad one with 400, an unknown route with
// 404), and shuts Serve down and exits 0 on SIGINT.
func TestServeForever(t *testing.T) {
	bin := buildExample(t)
	x, _ := mlp.Digits(1, 3)
	model, err := loadModel()
	if err != nil {
		t.Fatal(err)
	}
	probs, err := model.Predict(x, 1)
	if err != nil {
		t.Fatal(err)
	}
	wantClass := model.Argmax(probs)[0]
	served := false
	urlLine := regexp.MustCompile(`^serving at (\S+) until interrupted`)
	out, err := runExample(t, 2*time.Minute, func(line string, p *os.Process) {
		m := urlLine.FindStringSubmatch(line)
		if m == nil {
			return
		}
		defer func() { _ = p.Signal(os.Interrupt) }()
		served = true
		body, _ := json.Marshal(ClassifyRequest{Pixels: x})
		for _, c := range []struct {
			path, body string
			code       int
		}{
			{"/classify", string(body), 200},
			{"/classify", `{"pixels": [1, 2, 3]}`, 400},
			{"/pipeline", `{"pixels": [1, 2, 3]}`, 400},
			{"/nowhere", "{}", 404},
		} {
			resp, err := http.Post(m[1]+c.path, "application/json", strings.NewReader(c.body))
			if err != nil {
				t.Errorf("POST %s: %v", c.path, err)
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.code {
				t.Errorf("POST %s %s: %d %s, want %d", c.path, c.body, resp.StatusCode, b, c.code)
				continue
			}
			var p Prediction
			if c.code == 200 && (json.Unmarshal(b, &p) != nil || p.Class != wantClass) {
				t.Errorf("POST %s: %s, want class %d", c.path, b, wantClass)
			}
		}
	}, bin, "-serve-forever")
	if err != nil || !served || !strings.Contains(out, "interrupted: shutting Serve down") {
		t.Fatalf("served %v, exit %v:\n%s", served, err, out)
	}
}

// TestShippedModel checks that the embedded model is the batch-inference
// example's, byte for byte.
func TestShippedModel(t *testing.T) {
	b, err := os.ReadFile("../batchinference/model.bin")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, shippedModel) {
		t.Fatal("model.bin differs from ../batchinference/model.bin: copy it again")
	}
}

func readRecords(t *testing.T, path string) []record {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var recs []record
	dec := json.NewDecoder(f)
	for {
		var r record
		if err := dec.Decode(&r); err == io.EOF {
			return recs
		} else if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		recs = append(recs, r)
	}
}

// The example runs as a user runs it: built with go build (no -race),
// started as its own process, its workers started by its embedded
// cluster (as examples/tune's test does).

// markerEnv tags the example's process; its workers inherit it, so that
// any process of the run left behind can be found.
const markerEnv = "SERVE_EXAMPLE_TEST_MARKER"

// buildExample builds this package's program into a temporary directory.
func buildExample(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "serve-example")
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if p, err := exec.LookPath("go"); err == nil {
		goTool = p
	}
	if out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// runExample runs bin with args on its own embedded cluster (no RAYO_*
// variable from the test's environment) in its own process group, killed
// at timeout, and returns its combined output and exit error; onLine, if
// set, sees each line of output as it comes, on the test's goroutine.
// After it exits its workers must exit too: any process still carrying
// its marker a few seconds later fails the test, and is killed.
func runExample(t *testing.T, timeout time.Duration, onLine func(line string, p *os.Process), bin string, args ...string) (string, error) {
	t.Helper()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	marker := hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = t.TempDir()
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RAYO_") && !strings.HasPrefix(kv, "TMPDIR=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, markerEnv+"="+marker, "TMPDIR="+t.TempDir())
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		t.Fatal(err)
	}
	pw.Close()
	// Read until the pipe closes, or a little after the example exits (a
	// worker left behind may hold it open).
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var all strings.Builder
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var waitErr error
	var after <-chan time.Time
	for lines != nil {
		select {
		case line, ok := <-lines:
			if !ok {
				lines = nil
				continue
			}
			all.WriteString(line + "\n")
			if onLine != nil {
				onLine(line, cmd.Process)
			}
		case waitErr = <-exited:
			exited, after = nil, time.After(3*time.Second)
		case <-after:
			pr.Close()
			for range lines {
			}
			lines = nil
		}
	}
	if exited != nil {
		waitErr = <-exited
	}
	pr.Close()
	if ctx.Err() != nil {
		t.Errorf("%s %s: still running after %v", bin, strings.Join(args, " "), timeout)
	}
	deadline := time.Now().Add(10 * time.Second)
	left := markedPids(marker)
	for len(left) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		left = markedPids(marker)
	}
	for _, pid := range left {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if len(left) > 0 {
		t.Errorf("processes of the example still running 10 s after it exited (killed): %v", left)
	}
	return all.String(), waitErr
}

// markedPids lists the live processes whose environment holds marker.
func markedPids(marker string) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || !strings.Contains("\x00"+string(env)+"\x00", "\x00"+markerEnv+"="+marker+"\x00") {
			continue
		}
		if stat, err := os.ReadFile("/proc/" + e.Name() + "/stat"); err == nil {
			if i := strings.LastIndexByte(string(stat), ')'); i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
				continue // exited, not yet reaped
			}
		}
		pids = append(pids, pid)
	}
	return pids
}

//go:build linux

package main

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rayo-dev/rayo/tune"

	"github.com/rayo-dev/rayo/examples/internal/exampletest"
)

// TestTuneExample builds the example and runs it as a real process on
// its embedded cluster, with a small search in which every trial fails
// once after epoch 7: for each searcher built in, it exits 0, ASHA stops
// some trials early, trials restart from their checkpoints, the best
// trial's accuracy is well above chance (0.5), its checkpoint and the
// experiment's results.csv (a row per trial) are where the output says,
// and no process of the run is left.
func TestTuneExample(t *testing.T) {
	bin := exampletest.Build(t, "tune")
	storage := t.TempDir()
	const samples, epochs = 12, 30
	out, err := exampletest.Run(t, 2*time.Minute, nil, bin,
		"-samples", strconv.Itoa(samples), "-epochs", strconv.Itoa(epochs), "-fail-at", "7", "-storage", storage)
	if err != nil {
		t.Fatalf("the example failed: %v\n%s", err, out)
	}
	if !strings.Contains(out, "== Tune status: spirals_") || !regexp.MustCompile(`(?m)^Trial +Status`).MatchString(out) {
		t.Errorf("no status table in the output:\n%s", out)
	}

	searches := regexp.MustCompile(`(?m)^== (\w+) search with ASHA`).FindAllStringSubmatch(out, -1)
	costs := regexp.MustCompile(`(?m)^(\d+) trials in [0-9.]+s: (\d+) epochs of (\d+) .*; (\d+) restarts from a checkpoint, (\d+) trials failed$`).FindAllStringSubmatch(out, -1)
	bests := regexp.MustCompile(`(?m)^best trial (\S+): valid_loss [0-9.]+, accuracy ([0-9.]+) after \d+ epochs$`).FindAllStringSubmatch(out, -1)
	ckpts := regexp.MustCompile(`(?m)^  checkpoint: (\S+) \(epoch \d+; restored, it scores accuracy ([0-9.]+)\)$`).FindAllStringSubmatch(out, -1)
	results := regexp.MustCompile(`(?m)^  results: (\S+)$`).FindAllStringSubmatch(out, -1)
	if len(searches) == 0 || len(costs) != len(searches) || len(bests) != len(searches) || len(ckpts) != len(searches) || len(results) != len(searches) {
		t.Fatalf("%d searches, %d cost lines, %d best trials, %d checkpoints, %d results: want one of each per search:\n%s",
			len(searches), len(costs), len(bests), len(ckpts), len(results), out)
	}
	for i, s := range searches {
		name := s[1]
		trials, spent, budget, restarts, failed := atoi(costs[i][1]), atoi(costs[i][2]), atoi(costs[i][3]), atoi(costs[i][4]), atoi(costs[i][5])
		if trials != samples || budget != samples*epochs || spent >= budget || spent < samples {
			t.Errorf("%s: %d trials, %d epochs of %d: want %d trials, ASHA stopping some", name, trials, spent, budget, samples)
		}
		if restarts == 0 || failed != 0 {
			t.Errorf("%s: %d restarts, %d trials failed: want restarts from checkpoints, no trial failed", name, restarts, failed)
		}
		if acc, _ := strconv.ParseFloat(bests[i][2], 64); acc <= 0.8 {
			t.Errorf("%s: best trial %s has accuracy %s, want above 0.8", name, bests[i][1], bests[i][2])
		}
		if acc, _ := strconv.ParseFloat(ckpts[i][2], 64); acc <= 0.8 {
			t.Errorf("%s: the best checkpoint restored scores %s, want above 0.8", name, ckpts[i][2])
		}
		if _, err := os.Stat(filepath.Join(ckpts[i][1], "checkpoint.bin")); err != nil || !strings.HasPrefix(ckpts[i][1], storage) {
			t.Errorf("%s: checkpoint %s: %v (want it under %s)", name, ckpts[i][1], err, storage)
		}
		checkResultsCSV(t, results[i][1], samples)
	}
}

// checkResultsCSV checks that path is a results.csv with a row per trial,
// each TERMINATED.
func checkResultsCSV(t *testing.T, path string, trials int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Errorf("results: %v", err)
		return
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) != trials+1 {
		t.Errorf("%s: %d rows, %v; want a header and %d trials", path, len(rows), err, trials)
		return
	}
	for _, r := range rows[1:] {
		if r[1] != string(tune.Terminated) {
			t.Errorf("%s: trial %s is %s", path, r[0], r[1])
		}
	}
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/rayo-dev/rayo/bench/data/dataset"
	"github.com/rayo-dev/rayo/bench/data/peers"
)

func TestUsage(t *testing.T) {
	ctx := context.Background()
	for _, args := range [][]string{
		{},
		{"both"},
		{"gen", "peers"},
		{"--reps", "0", "peers"},
		{"--dir", t.TempDir(), "--only", "spark", "peers"},
	} {
		if err := run(ctx, args); !errors.Is(err, errUsage) {
			t.Errorf("run(%q) = %v, want errUsage", args, err)
		}
	}
	if err := run(ctx, []string{"--dir", t.TempDir(), "--scale", "huge", "gen"}); !errors.Is(err, dataset.ErrBadScale) {
		t.Errorf("gen --scale huge = %v, want ErrBadScale", err)
	}
	if err := run(ctx, []string{"--dir", t.TempDir(), "peers"}); !errors.Is(err, dataset.ErrNoManifest) {
		t.Errorf("peers before gen = %v, want ErrNoManifest", err)
	}
}

// The small scale end to end: gen, then every peer, the JSON holding a
// row per peer figure.
func TestSmallScale(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 25 MB and runs every peer")
	}
	only := "floor,duckdb,sort"
	wantRows := 1 + 2 + 4
	if peers.ArrowBuilt {
		wantRows += 2
	}
	if exec.Command(peers.Python, "-c", "import pandas").Run() == nil {
		only += ",pandas"
		wantRows += 2
	}
	dir := t.TempDir()
	ctx := context.Background()
	if err := run(ctx, []string{"--dir", dir, "--scale", "small", "gen"}); err != nil {
		t.Fatal(err)
	}
	js := filepath.Join(dir, "r.json")
	if err := run(ctx, []string{"--dir", dir, "--reps", "1", "--only", only, "--json", js, "--pandas-script", "../../pandas_groupby.py", "peers"}); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	var r results
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Rows) != wantRows || r.Floor == nil || r.Floor.Rows != r.Datasets[dataset.RMW].Rows() {
		t.Errorf("%d rows (want %d), floor %+v", len(r.Rows), wantRows, r.Floor)
	}
	for _, row := range r.Rows {
		if !(row.PeerFigure > 0) {
			t.Errorf("row %+v has no figure", row)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "out")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("outputs left behind without --keep: %v", err)
	}
}

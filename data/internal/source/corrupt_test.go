package source

import (
	"context"
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
)

// TestCorruptInputNeverPanics damages files at seeded random places: every
// Plan and Read either succeeds (Parquet has no checksums, CSV and JSON may
// still parse) or fails with the file's typed error; a panic in arrow-go
// (this seed gives some) comes back as ErrCorrupt, never escapes.
func TestCorruptInputNeverPanics(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewSource(1))
	ctx := context.Background()
	nothing := func(arrow.RecordBatch) error { return nil }

	good := filepath.Join(dir, "good.parquet")
	writeParquet(t, good, 0, 200, 50)
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "bad.parquet")
	var failed int
	for range 500 {
		bad := slices.Clone(data)
		for range 1 + rng.Intn(8) {
			bad[rng.Intn(len(bad))] = byte(rng.Intn(256))
		}
		writeFile(t, p, bad)
		units, _, err := Plan(ctx, Parquet, []string{p}, DefaultOptions())
		for _, u := range units {
			if err = Read(ctx, Parquet, u, DefaultOptions(), nothing); err != nil {
				break
			}
		}
		if err != nil {
			failed++
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("damaged Parquet: %v, want ErrCorrupt", err)
			}
		}
	}
	if failed == 0 {
		t.Fatal("no damaged Parquet file failed: the test damages nothing")
	}

	for _, tc := range []struct {
		f    Format
		body string
	}{
		{CSV, "a,b,c\n1,x,2.5\n2,\"y,z\",3\n3,w,\n"},
		{JSON, "{\"a\": 1, \"b\": [1,2], \"c\": {\"d\": \"x\"}}\n{\"a\": 2, \"b\": [], \"c\": {\"d\": null}}\n"},
	} {
		p := filepath.Join(dir, "bad."+tc.f.String())
		for range 500 {
			bad := []byte(tc.body)
			for range 1 + rng.Intn(4) {
				bad[rng.Intn(len(bad))] = "\",{}[]:\n1a.\\e"[rng.Intn(13)]
			}
			writeFile(t, p, bad)
			opts := DefaultOptions()
			opts.TargetRows = 1 + rng.Intn(3)
			err := Read(ctx, tc.f, Unit{Path: p}, opts, nothing)
			if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("%s %q: %v", tc.f, bad, err)
			}
		}
	}
}

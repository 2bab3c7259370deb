package compute_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/rayo-dev/rayo/data/internal/compute"
)

// ids returns the id column of each part.
func ids(parts []arrow.Record) [][]int64 {
	out := make([][]int64, len(parts))
	for i, p := range parts {
		out[i] = slices.Clone(p.Column(0).(*array.Int64).Int64Values())
	}
	return out
}

// coversOnce checks that the parts hold rows 0..n-1 once each, in
// increasing order inside each part.
func coversOnce(t *testing.T, what string, parts [][]int64, n int) {
	t.Helper()
	seen := make([]bool, n)
	for _, p := range parts {
		if !slices.IsSorted(p) {
			t.Fatalf("%s: a part's rows out of order: %v", what, p)
		}
		for _, id := range p {
			if seen[id] {
				t.Fatalf("%s: row %d twice", what, id)
			}
			seen[id] = true
		}
	}
	for i, s := range seen {
		if !s {
			t.Fatalf("%s: row %d missing", what, i)
		}
	}
}

func TestHashPartition(t *testing.T) {
	a, b := randRecord(t, 600, 1, 40), randRecord(t, 400, 2, 40)
	for _, keys := range keySets[:6] {
		for _, n := range []int{1, 2, 7} {
			partOf := map[string]int{}
			for _, rec := range []arrow.Record{a, b} {
				parts, err := compute.HashPartition(rec, keys, n)
				if err != nil {
					t.Fatal(err)
				}
				if len(parts) != n {
					t.Fatalf("%d parts", len(parts))
				}
				coversOnce(t, fmt.Sprint(keys, n), ids(parts), int(rec.NumRows()))
				// equal keys in the same part, in both records
				for j, p := range parts {
					var ki []int
					for _, k := range keys {
						ki = append(ki, colIndex(p, k))
					}
					for _, row := range rowsOf(p) {
						ks := keyString(row, ki)
						if prev, ok := partOf[ks]; ok && prev != j {
							t.Fatalf("%v key %s in parts %d and %d", keys, ks, prev, j)
						}
						partOf[ks] = j
					}
				}
			}
			if n > 1 && len(keys) > 0 {
				used := map[int]bool{}
				for _, j := range partOf {
					used[j] = true
				}
				if len(used) < 2 {
					t.Errorf("%v: every key in one part of %d", keys, n)
				}
			}
		}
	}
}

func TestHashesAgreeAcrossSlices(t *testing.T) {
	rec := randRecord(t, 300, 3, 20)
	whole, err := compute.NewKeys(rec, []string{"ks", "ki"})
	if err != nil {
		t.Fatal(err)
	}
	part, _ := compute.NewKeys(rec.NewSlice(100, 300), []string{"ks", "ki"})
	hw, hp := whole.Hashes(nil), part.Hashes(nil)
	if !slices.Equal(hw[100:], hp) {
		t.Fatal("a slice hashes its rows differently")
	}
}

func TestRandomPartitionAndShuffle(t *testing.T) {
	rec := randRecord(t, 1000, 4, 10)
	p1, _ := compute.RandomPartition(rec, 4, 42)
	p2, _ := compute.RandomPartition(rec, 4, 42)
	p3, _ := compute.RandomPartition(rec, 4, 43)
	coversOnce(t, "random", ids(p1), 1000)
	if fmt.Sprint(ids(p1)) != fmt.Sprint(ids(p2)) || fmt.Sprint(ids(p1)) == fmt.Sprint(ids(p3)) {
		t.Fatal("random partition is not seeded")
	}
	for _, p := range p1 {
		if p.NumRows() < 150 {
			t.Errorf("a part of %d rows out of 1000 in 4", p.NumRows())
		}
	}
	s1, _ := compute.Shuffle(rec, 7)
	s2, _ := compute.Shuffle(rec, 7)
	s3, _ := compute.Shuffle(rec, 8)
	i1 := ids([]arrow.Record{s1})[0]
	if fmt.Sprint(i1) != fmt.Sprint(ids([]arrow.Record{s2})[0]) || fmt.Sprint(i1) == fmt.Sprint(ids([]arrow.Record{s3})[0]) || slices.IsSorted(i1) {
		t.Fatal("shuffle is not a seeded permutation")
	}
	sorted := slices.Clone(i1)
	slices.Sort(sorted)
	coversOnce(t, "shuffle", [][]int64{sorted}, 1000)
	// the other columns move with the id
	want := rowsOf(rec)
	for i, row := range rowsOf(s1) {
		if fmt.Sprint(row) != fmt.Sprint(want[row[0].(int64)]) {
			t.Fatalf("row %d: %v", i, row)
		}
	}
}

func TestPartitionErrors(t *testing.T) {
	rec := randRecord(t, 10, 1, 3)
	if _, err := compute.HashPartition(rec, []string{"ki"}, 0); !errors.Is(err, compute.ErrBadArgument) {
		t.Error(err)
	}
	if _, err := compute.HashPartition(rec, nil, 2); !errors.Is(err, compute.ErrBadArgument) {
		t.Error(err)
	}
	if _, err := compute.HashPartition(rec, []string{"nope"}, 2); !errors.Is(err, compute.ErrNoColumn) {
		t.Error(err)
	}
	if _, err := compute.RandomPartition(rec, -1, 0); !errors.Is(err, compute.ErrBadArgument) {
		t.Error(err)
	}
}

package rows_test

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/rayo-dev/rayo/data/internal/rows"
)

type benchRow struct {
	ID    int64
	X     float64
	Y     float32
	Name  string
	Valid bool
}

const benchRows = 1 << 20

func benchData() []benchRow {
	in := make([]benchRow, benchRows)
	names := []string{"alpha", "beta", "gamma", "delta"}
	for i := range in {
		in[i] = benchRow{int64(i), float64(i) / 3, float32(i), names[i%4], i%2 == 0}
	}
	return in
}

func rowsPerSec(b *testing.B) {
	b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkRows: ToRecord and FromRecord of 1 Mi rows of a 5-field
// struct, beside the floor: plain Go loops copying the same fields into
// column slices and back, with no Arrow and no reflection.
func BenchmarkRows(b *testing.B) {
	in := benchData()
	mem := memory.NewGoAllocator()
	b.Run("ToRecord", func(b *testing.B) {
		for b.Loop() {
			rec, err := rows.ToRecord(mem, in)
			if err != nil {
				b.Fatal(err)
			}
			rec.Release()
		}
		rowsPerSec(b)
	})
	b.Run("FromRecord", func(b *testing.B) {
		rec, err := rows.ToRecord(mem, in)
		if err != nil {
			b.Fatal(err)
		}
		defer rec.Release()
		for b.Loop() {
			out, err := rows.FromRecord[benchRow](rec)
			if err != nil || len(out) != benchRows {
				b.Fatal(err)
			}
		}
		rowsPerSec(b)
	})
	b.Run("floor-to-columns", func(b *testing.B) {
		for b.Loop() {
			ids := make([]int64, len(in))
			xs := make([]float64, len(in))
			ys := make([]float32, len(in))
			names := make([]string, len(in))
			valid := make([]bool, len(in))
			for i := range in {
				ids[i], xs[i], ys[i], names[i], valid[i] = in[i].ID, in[i].X, in[i].Y, in[i].Name, in[i].Valid
			}
			if ids[len(in)-1] != int64(len(in)-1) || names[1] != "beta" || !valid[0] || xs[3] != 1 || ys[2] != 2 {
				b.Fatal("wrong copy")
			}
		}
		rowsPerSec(b)
	})
	b.Run("floor-from-columns", func(b *testing.B) {
		ids := make([]int64, len(in))
		xs := make([]float64, len(in))
		ys := make([]float32, len(in))
		names := make([]string, len(in))
		valid := make([]bool, len(in))
		for i := range in {
			ids[i], xs[i], ys[i], names[i], valid[i] = in[i].ID, in[i].X, in[i].Y, in[i].Name, in[i].Valid
		}
		for b.Loop() {
			out := make([]benchRow, len(ids))
			for i := range out {
				out[i] = benchRow{ids[i], xs[i], ys[i], names[i], valid[i]}
			}
			if out[len(out)-1].ID != int64(len(out)-1) {
				b.Fatal("wrong copy")
			}
		}
		rowsPerSec(b)
	})
}

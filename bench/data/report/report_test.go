package report_test

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rayo-dev/rayo/bench/data/report"
)

func ptr(v float64) *float64 { return &v }

func TestRatio(t *testing.T) {
	for _, c := range []struct {
		row  report.Row
		want float64
	}{
		{report.Row{Unit: "s", Rayo: ptr(3), PeerFigure: 2}, 1.5},
		{report.Row{Unit: "rows/s", Rayo: ptr(3e6), PeerFigure: 6e6}, 2},
		{report.Row{Unit: "s", PeerFigure: 2}, 0},
		{report.Row{Unit: "s", Rayo: ptr(1), PeerFigure: 0}, 0},
	} {
		if got := c.row.Ratio(); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%+v: Ratio = %v, want %v", c.row, got, c.want)
		}
	}
}

func TestMarkdownAndJSON(t *testing.T) {
	rows := []report.Row{
		{Row: "1", What: "map", Unit: "rows/s", Rayo: ptr(4e6), PeerFigure: 8e6, Peer: "floor", Extra: "0.2 GB/s"},
		{Row: "2", What: "a|b", Unit: "s", PeerFigure: 0.25, Peer: "duckdb"},
	}
	var b strings.Builder
	report.Markdown(&b, rows)
	out := b.String()
	for _, want := range []string{
		"| 1 | map | 4.00M rows/s | floor | 8.00M rows/s (0.2 GB/s) | 2.00× |",
		`| 2 | a\|b | — | duckdb | 0.250 s | — |`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	p := filepath.Join(t.TempDir(), "r.json")
	if err := report.WriteJSON(p, rows); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var back []report.Row
	if err := json.Unmarshal(raw, &back); err != nil || len(back) != 2 || *back[0].Rayo != 4e6 || back[1].Rayo != nil {
		t.Errorf("JSON round trip = %+v, %v", back, err)
	}
	if err := report.WriteJSON(filepath.Join(t.TempDir(), "no", "r.json"), rows); err == nil {
		t.Error("WriteJSON into a missing directory succeeded")
	}
}

// Package report is the benchmark's output: rows of (what, rayo's figure,
// peer, peer's figure, ratio) as a markdown table and as JSON, so that
// rayo's rows can be filled in beside the peers measured in the same run.
//
// Ray has no equivalent.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// Row is one line of the table. Lower is better for seconds, higher for
// rates; Ratio is always rayo's cost over the peer's (rayo's seconds over
// the peer's, or the peer's rate over rayo's), so above 1 means rayo is
// slower.
type Row struct {
	Row        string   `json:"row"`             // "1", "2", "3": issue 16's numbering
	What       string   `json:"what"`            // the work, with its size
	Unit       string   `json:"unit"`            // "s" or "rows/s"
	Rayo       *float64 `json:"rayo,omitempty"`  // nil until rayo's row is measured
	Peer       string   `json:"peer"`            // who the figure is from, and how
	PeerFigure float64  `json:"peer_figure"`     // in Unit
	Extra      string   `json:"extra,omitempty"` // a second figure (GB/s, load time)
	Note       string   `json:"note,omitempty"`  // what the figure includes
	RayoExtra  string   `json:"rayo_extra,omitempty"`
}

// Ratio is rayo's cost over the peer's, or 0 when rayo's figure is absent.
func (r Row) Ratio() float64 {
	if r.Rayo == nil || *r.Rayo == 0 || r.PeerFigure == 0 {
		return 0
	}
	if r.Unit == "s" {
		return *r.Rayo / r.PeerFigure
	}
	return r.PeerFigure / *r.Rayo
}

func format(v float64, unit string) string {
	switch {
	case unit == "s" && v < 10:
		return fmt.Sprintf("%.3f s", v)
	case unit == "s":
		return fmt.Sprintf("%.1f s", v)
	case v >= 1e6:
		return fmt.Sprintf("%.2fM %s", v/1e6, unit)
	}
	return fmt.Sprintf("%.0f %s", v, unit)
}

// Markdown writes rows as a markdown table.
func Markdown(w io.Writer, rows []Row) {
	fmt.Fprintln(w, "| row | work | rayo | peer | peer figure | ratio (rayo cost / peer) |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, r := range rows {
		rayo, ratio := "—", "—"
		if r.Rayo != nil {
			rayo = format(*r.Rayo, r.Unit)
			if r.RayoExtra != "" {
				rayo += ", " + r.RayoExtra
			}
			ratio = fmt.Sprintf("%.2f×", r.Ratio())
		}
		peer := format(r.PeerFigure, r.Unit)
		if r.Extra != "" {
			peer += " (" + r.Extra + ")"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", r.Row, esc(r.What), rayo, esc(r.Peer), peer, ratio)
	}
}

func esc(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// WriteJSON writes v, indented, to path.
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// ReadJSON reads path's JSON into v.
func ReadJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

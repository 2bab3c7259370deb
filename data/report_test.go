package data_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/data"
)

// TestProgressLinesAndMetrics: a run reports one line per operator when
// its output is not a terminal, nothing when quiet, and its figures reach
// the dashboard's /metrics as rayo_data_*.
func TestProgressLinesAndMetrics(t *testing.T) {
	ctx := testCtx(t)
	var buf bytes.Buffer
	ds := data.Range(5000, data.Parallelism(2)).Map(fSquare).Sort(data.Desc("id")).WithOptions(data.Progress(data.ProgressLines, &buf))
	if n, err := ds.Count(ctx); err != nil || n != 5000 {
		t.Fatalf("Count: %d %v", n, err)
	}
	out := buf.String()
	for _, op := range []string{"Range->Map(test.square)", "Sort(id desc)"} {
		if !strings.Contains(out, op) {
			t.Fatalf("no progress line for %s in:\n%s", op, out)
		}
	}
	if !strings.Contains(out, "5000") && !strings.Contains(out, "5,000") && !strings.Contains(out, "5.0k") {
		t.Fatalf("the rows are not in the progress lines:\n%s", out)
	}
	var quietBuf bytes.Buffer
	if _, err := data.Range(10).WithOptions(data.Progress(data.ProgressQuiet, &quietBuf)).Materialize(ctx); err != nil || quietBuf.Len() != 0 {
		t.Fatalf("quiet progress wrote %q (%v)", quietBuf.String(), err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if v := storeMetricOr(t, `rayo_data_output_rows_total{operator="Sort(id desc)"}`); v >= 5000 {
			break
		}
		if time.Now().After(deadline) {
			resp, _ := http.Get("http://" + rayo.DashboardAddress() + "/metrics")
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			t.Fatalf("rayo_data_output_rows_total for Sort(id desc) never reached /metrics: %s", grepLines(string(b), "rayo_data|rayo_app"))
		}
		time.Sleep(100 * time.Millisecond) // polling a scrape: the metrics push is periodic
	}
}

func grepLines(s, subs string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		for _, sub := range strings.Split(subs, "|") {
			if strings.Contains(l, sub) {
				out = append(out, l)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}

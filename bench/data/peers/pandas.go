package peers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
)

// Python is the interpreter the pandas peer runs with: Debian's, which
// has python3-pandas (apt-get install python3-pandas).
const Python = "/usr/bin/python3"

// PandasResult is what pandas_groupby.py prints.
type PandasResult struct {
	Version    string  `json:"pandas"`
	Rows       int64   `json:"rows"`
	Groups     int     `json:"groups"`
	CountTotal int64   `json:"count_total"`
	SumTotal   float64 `json:"sum_total"`
	LoadSecond float64 `json:"load_s"` // pd.read_csv
	AggSecond  float64 `json:"agg_s"`  // groupby(k).v.agg(sum, mean, count): the peer row
}

// Pandas runs script (pandas_groupby.py) on csv and returns its figures.
func Pandas(ctx context.Context, script, csv string) (PandasResult, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, Python, script, csv)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return PandasResult{}, fmt.Errorf("%w: %s %s: %v: %s", ErrPandas, script, csv, err, bytes.TrimSpace(stderr.Bytes()))
	}
	var r PandasResult
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil || r.Rows == 0 {
		return PandasResult{}, fmt.Errorf("%w: %s %s printed %q (%v)", ErrPandas, script, csv, bytes.TrimSpace(stdout.Bytes()), err)
	}
	return r, nil
}

// Package progress reports a running pipeline's progress per operator:
// rows, blocks, rows per second and object-store use. On a terminal it
// draws one bar per operator, redrawn in place (github.com/vbauerster/mpb);
// elsewhere (a log file, CI) it writes a plain line per operator at most
// every few seconds and a summary line at the end; quiet, it writes
// nothing. Ray Data's equivalent is its per-operator tqdm progress bars
// (DataContext.enable_progress_bars, enable_operator_progress_bars).
package progress

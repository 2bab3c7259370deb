package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rayo-dev/rayo/dashboard"
)

var (
	// ErrLogNotFound: no log file matches what the command asked for.
	ErrLogNotFound = errors.New("no log file")
	// ErrLogAmbiguous: several log files match and one was needed.
	ErrLogAmbiguous = errors.New("several log files match")
)

// logRow is a row of GET /api/v0/logs.
type logRow struct {
	NodeID     string `json:"node_id"`
	Filename   string `json:"filename"`
	SizeBytes  int64  `json:"size_bytes"`
	ModifiedMs int64  `json:"modified_ms"`
	Pid        int    `json:"pid"`
	JobID      string `json:"job_id"`
	Kind       string `json:"kind"`
}

type logOptions struct {
	cf       clusterFlags
	nodeID   string
	actorID  string
	taskID   string
	jobID    string
	pid      int
	tail     int
	follow   bool
	format   string
	filename string
}

func newLogs() *cobra.Command {
	var o logOptions
	cmd := &cobra.Command{
		Use:   "logs [FILENAME]",
		Short: "List the cluster's log files, or print one",
		Long: `Without a file or selector, lists the log files of every alive node (or
of --node-id): workers' output, the head's and node daemons' own logs,
drivers' logs.

With FILENAME (and --node-id where several nodes have that name), or one
selector, prints the file:
  --actor-id ID     the log of the worker that runs the actor
  --task-id ID      the log of the worker that ran the task
  --pid PID         the log of worker PID (--node-id ID where several nodes have one)
  --job-id ID       every worker log of the job, each under a header
--tail N prints the last N lines; --follow keeps printing what is appended.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.filename = args[0]
			}
			return o.run(cmd)
		},
	}
	o.cf.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&o.nodeID, "node-id", "", "the node (an ID or a unique prefix of one)")
	fl.StringVar(&o.actorID, "actor-id", "", "print the log of the worker running this actor")
	fl.StringVar(&o.taskID, "task-id", "", "print the log of the worker that ran this task")
	fl.StringVar(&o.jobID, "job-id", "", "print every worker log of this job")
	fl.IntVar(&o.pid, "pid", 0, "print the log of the worker with this pid")
	fl.IntVar(&o.tail, "tail", 0, "print only the last N lines (0: the whole file)")
	fl.BoolVarP(&o.follow, "follow", "f", false, "keep printing what is appended to the file")
	fl.StringVar(&o.format, "format", "table", "how to list files: table or json")
	return cmd
}

func (o *logOptions) run(cmd *cobra.Command) error {
	selectors := 0
	for _, set := range []bool{o.filename != "", o.actorID != "", o.taskID != "", o.jobID != "", o.pid != 0} {
		if set {
			selectors++
		}
	}
	switch {
	case selectors > 1:
		return errors.New("give one of FILENAME, --actor-id, --task-id, --job-id and --pid")
	case o.tail < 0:
		return fmt.Errorf("--tail %d: want a number of lines", o.tail)
	case o.pid < 0:
		return fmt.Errorf("--pid %d: want a process id", o.pid)
	case o.format != "table" && o.format != "json":
		return fmt.Errorf("--format must be table or json, not %q", o.format)
	case selectors == 0 && o.follow:
		return errors.New("--follow needs a file: give FILENAME, --actor-id, --task-id, --job-id or --pid")
	}
	ctx := cmd.Context()
	api, err := o.cf.api(ctx)
	if err != nil {
		return err
	}
	if selectors == 0 {
		rows, err := listLogs(ctx, api, o.nodeID, cmd.ErrOrStderr())
		if err != nil {
			return err
		}
		return printLogList(cmd.OutOrStdout(), rows, o.format)
	}
	files, err := o.resolve(ctx, api, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	if len(files) > 1 && o.follow {
		return fmt.Errorf("--follow takes one file; job %s has %d:\n%s", o.jobID, len(files), candidates(files))
	}
	out := cmd.OutOrStdout()
	for i, f := range files {
		if len(files) > 1 {
			if i > 0 {
				fmt.Fprintln(out)
			}
			fmt.Fprintf(out, "==> node %s: %s <==\n", f.NodeID, f.Filename)
		}
		if err := printLogFile(ctx, api, out, f, o.tail, o.follow); err != nil {
			return err
		}
	}
	return nil
}

// resolve finds the files the selector names.
func (o *logOptions) resolve(ctx context.Context, api *apiClient, stderr io.Writer) ([]logRow, error) {
	var what string
	var match func(logRow) bool
	node := o.nodeID
	switch {
	case o.filename != "":
		if node != "" {
			// Asked for by name on one node: the node says whether it has it.
			return []logRow{{NodeID: node, Filename: o.filename}}, nil
		}
		what = "named " + o.filename
		match = func(r logRow) bool { return r.Filename == o.filename }
	case o.actorID != "":
		var pid int
		var err error
		if node, pid, err = recordWorker(ctx, api, "actor", o.actorID, "pid"); err != nil {
			return nil, err
		}
		what, match = fmt.Sprintf("of actor %s (worker pid %d on node %s)", o.actorID, pid, node), workerPid(pid)
	case o.taskID != "":
		var pid int
		var err error
		if node, pid, err = recordWorker(ctx, api, "task", o.taskID, "worker_pid"); err != nil {
			return nil, err
		}
		what, match = fmt.Sprintf("of task %s (worker pid %d on node %s)", o.taskID, pid, node), workerPid(pid)
	case o.jobID != "":
		what = "of job " + o.jobID
		match = func(r logRow) bool { return r.JobID == o.jobID }
	default:
		what = "of worker pid " + strconv.Itoa(o.pid)
		match = workerPid(o.pid)
	}
	rows, err := listLogs(ctx, api, node, stderr)
	if err != nil {
		return nil, err
	}
	where := "on any alive node"
	if node != "" {
		where = "on node " + node
	}
	return pickLogs(rows, match, o.jobID != "", what+" "+where)
}

// recordWorker reads GET /api/v0/{kind}s/{id} of the state API and
// returns the node and pid of the worker it names (pidKey).
func recordWorker(ctx context.Context, api *apiClient, kind, id, pidKey string) (node string, pid int, err error) {
	var rec map[string]any
	if err := api.get(ctx, "/api/v0/"+kind+"s/"+url.PathEscape(id), nil, &rec); err != nil {
		var ae *APIError
		if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
			hint := ""
			if kind == "task" {
				hint = " (its events may have been dropped under the head's memory budget, or this head does not serve /api/v0/tasks)"
			}
			return "", 0, fmt.Errorf("%w: the cluster knows no %s %s%s: %v", ErrLogNotFound, kind, id, hint, err)
		}
		return "", 0, fmt.Errorf("%s %s: %w", kind, id, err)
	}
	node, _ = rec["node_id"].(string)
	p, _ := rec[pidKey].(float64) // JSON numbers decode as float64
	if node == "" || p <= 0 {
		return "", 0, fmt.Errorf("%w: %s %s has no worker now (state %v)", ErrLogNotFound, kind, id, rec["state"])
	}
	return node, int(p), nil
}

func workerPid(pid int) func(logRow) bool {
	return func(r logRow) bool { return r.Kind == "worker" && r.Pid == pid }
}

// pickLogs returns the rows that match: exactly one unless many is set.
// The errors list what there is to choose from.
func pickLogs(rows []logRow, match func(logRow) bool, many bool, what string) ([]logRow, error) {
	var out []logRow
	for _, r := range rows {
		if match(r) {
			out = append(out, r)
		}
	}
	switch {
	case len(out) == 0 && len(rows) == 0:
		return nil, fmt.Errorf("%w %s (no log file there at all)", ErrLogNotFound, what)
	case len(out) == 0:
		return nil, fmt.Errorf("%w %s; the log files there are:\n%s", ErrLogNotFound, what, candidates(rows))
	case len(out) > 1 && !many:
		return nil, fmt.Errorf("%w %s; pick one with FILENAME --node-id ID:\n%s", ErrLogAmbiguous, what, candidates(out))
	}
	return out, nil
}

// maxCandidates bounds the files an error message lists.
const maxCandidates = 30

// candidates formats rows as a short table for error messages.
func candidates(rows []logRow) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 2, 4, 2, ' ', 0)
	for i, r := range rows {
		if i == maxCandidates {
			fmt.Fprintf(tw, "  ... and %d more (rayo logs lists them all)\n", len(rows)-i)
			break
		}
		fmt.Fprintf(tw, "  node %s\t%s\t%s\tjob %s\tpid %d\n", r.NodeID, r.Filename, r.Kind, r.JobID, r.Pid)
	}
	_ = tw.Flush()
	return strings.TrimRight(b.String(), "\n")
}

// listLogs fetches the log files of one node, or of every alive node.
// Warnings (a node that did not answer) go to stderr.
func listLogs(ctx context.Context, api *apiClient, nodeID string, stderr io.Writer) ([]logRow, error) {
	q := url.Values{"limit": {strconv.Itoa(dashboard.MaxLimit)}}
	if nodeID != "" {
		q.Set("node_id", nodeID)
	}
	var reply struct {
		Result    []logRow `json:"result"`
		Total     int      `json:"total"`
		Truncated bool     `json:"truncated"`
		Warnings  []string `json:"warnings"`
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := api.get(ctx, "/api/v0/logs", q, &reply); err != nil {
		return nil, err
	}
	for _, w := range reply.Warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	if reply.Truncated {
		fmt.Fprintf(stderr, "warning: %d of %d log files listed\n", len(reply.Result), reply.Total)
	}
	return reply.Result, nil
}

func printLogList(w io.Writer, rows []logRow, format string) error {
	if format == "json" {
		if rows == nil {
			rows = []logRow{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	table := make([]row, len(rows))
	for i, r := range rows {
		table[i] = row{"node_id": r.NodeID, "kind": r.Kind, "filename": r.Filename, "size": r.SizeBytes,
			"modified": time.UnixMilli(r.ModifiedMs).UTC().Format(time.RFC3339), "job_id": r.JobID, "pid": r.Pid}
		if r.Kind != "worker" {
			table[i]["job_id"], table[i]["pid"] = "", ""
		}
	}
	printRows(w, []string{"node_id", "kind", "filename", "size", "modified", "job_id", "pid"}, table)
	return nil
}

// printLogFile copies a file (its tail, then what is appended with
// follow) to w.
func printLogFile(ctx context.Context, api *apiClient, w io.Writer, f logRow, tail int, follow bool) error {
	q := url.Values{"node_id": {f.NodeID}, "filename": {f.Filename}}
	if tail > 0 {
		q.Set("tail", strconv.Itoa(tail))
	}
	if follow {
		q.Set("follow", "1")
		// A follow lasts until interrupted: no overall timeout.
		api = &apiClient{base: api.base, token: api.token, http: &http.Client{}}
	}
	resp, err := api.send(ctx, http.MethodGet, "/api/v0/logs/file", q, nil, "")
	if err != nil {
		return fmt.Errorf("%s on node %s: %w", f.Filename, f.NodeID, err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil && ctx.Err() == nil {
		return fmt.Errorf("reading %s from node %s: %w", f.Filename, f.NodeID, err)
	}
	return nil
}

package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rayo-dev/rayo/dashboard"
	"github.com/rayo-dev/rayo/internal/jobs"
	"github.com/rayo-dev/rayo/internal/session"
)

// `rayo job`: Ray's job submission, through the head's HTTP API.

func newJob() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "job",
		Short: "Submit jobs to the cluster's head and follow, list and stop them",
		Long: `Jobs run on the head's machine as children of the head daemon, with
RAYO_ADDRESS and RAYO_TOKEN set, so that a rayo driver in them joins the
cluster. --address is the HTTP API (e.g. http://127.0.0.1:8265); default:
RAYO_DASHBOARD_ADDRESS, then the address the local cluster's head gives.`,
	}
	cmd.AddCommand(newJobSubmit(), newJobStatus(), newJobLogs(), newJobStop(), newJobList())
	return cmd
}

// registerJob registers the flags of a job command: --address is the HTTP
// API's address here (Ray's RAY_ADDRESS=http://127.0.0.1:8265), which
// clusterFlags calls the dashboard address.
func (f *clusterFlags) registerJob(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.tempDir, "temp-dir", session.DefaultTempDir, "where session directories live")
	cmd.Flags().StringVar(&f.dashboard, "address", "", "the HTTP API's URL or host:port (default: RAYO_DASHBOARD_ADDRESS, then the local cluster's)")
	registerToken(cmd.Flags(), &f.token)
}

// jobPath is the API path of job id (and a suffix).
func jobPath(id, suffix string) string { return "/api/jobs/" + url.PathEscape(id) + suffix }

// getJob fetches job id's record.
func getJob(ctx context.Context, c *apiClient, id string) (jobs.Info, error) {
	var info jobs.Info
	err := c.get(ctx, jobPath(id, ""), nil, &info)
	return info, err
}

func newJobSubmit() *cobra.Command {
	var cf clusterFlags
	var workingDir, submissionID string
	var envs []string
	var noWait bool
	cmd := &cobra.Command{
		Use:   "submit [flags] -- ENTRYPOINT [ARGS...]",
		Short: "Submit a job: upload the working directory, run the entrypoint on the head's machine",
		Long: `Submit a job. The working directory (--working-dir, at most 100 MiB) is
uploaded as a gzipped tar and unpacked on the head; the entrypoint runs
there. Without --no-wait the job's log is streamed until it ends, and the
command exits non-zero unless the job SUCCEEDED.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			env, err := parseEnv(envs)
			if err != nil {
				return err
			}
			c, err := cf.api(cmd.Context())
			if err != nil {
				return err
			}
			spec := dashboard.SubmitRequest{Entrypoint: args, SubmissionID: submissionID, EnvVars: env}
			info, err := submitJob(cmd.Context(), c, spec, workingDir)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			id := info.SubmissionID
			fmt.Fprintf(out, "Job '%s' submitted (%s).\n", id, info.Status)
			if noWait {
				fmt.Fprintf(out, "  status: rayo job status %s\n  logs:   rayo job logs %s --follow\n  stop:   rayo job stop %s\n", id, id, id)
				return nil
			}
			if err := followLogs(cmd.Context(), &cf, c, id, out); err != nil {
				return err
			}
			return jobOutcome(cmd.Context(), c, id, out)
		},
	}
	cf.registerJob(cmd)
	fl := cmd.Flags()
	fl.SetInterspersed(false) // flags after the entrypoint are the entrypoint's
	fl.StringVar(&workingDir, "working-dir", "", "a directory to upload; the entrypoint runs in it")
	fl.StringArrayVar(&envs, "env", nil, "K=V: an environment variable of the job (repeatable)")
	fl.BoolVar(&noWait, "no-wait", false, "return once the job is submitted")
	fl.StringVar(&submissionID, "submission-id", "", "the job's ID (default: a new one)")
	return cmd
}

// parseEnv parses --env K=V flags.
func parseEnv(kvs []string) (map[string]string, error) {
	env := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--env %q: want KEY=VALUE", kv)
		}
		env[k] = v
	}
	return env, nil
}

// submitJob packs the working directory (into a temporary file first,
// so that a directory Pack refuses fails before anything is sent) and
// posts the submission.
func submitJob(ctx context.Context, c *apiClient, spec dashboard.SubmitRequest, workingDir string) (*jobs.Info, error) {
	specJSON, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	var pkg *os.File
	if workingDir != "" {
		if pkg, err = os.CreateTemp("", "rayo-working-dir-*.tar.gz"); err != nil {
			return nil, err
		}
		defer func() { _ = pkg.Close(); _ = os.Remove(pkg.Name()) }()
		if err := jobs.Pack(workingDir, pkg); err != nil {
			return nil, fmt.Errorf("packing --working-dir %s: %w", workingDir, err)
		}
		if st, err := pkg.Stat(); err != nil {
			return nil, err
		} else if st.Size() > jobs.MaxPackageSize {
			return nil, fmt.Errorf("--working-dir %s packs to %d MiB, more than the %d MiB limit", workingDir, st.Size()>>20, jobs.MaxPackageSize>>20)
		}
		if _, err := pkg.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
	}
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		err := func() error {
			w, err := mw.CreateFormField(dashboard.PartSpec)
			if err != nil {
				return err
			}
			if _, err := w.Write(specJSON); err != nil {
				return err
			}
			if pkg != nil {
				if w, err = mw.CreateFormFile(dashboard.PartWorkingDir, "working_dir.tar.gz"); err != nil {
					return err
				}
				if _, err := io.Copy(w, pkg); err != nil {
					return err
				}
			}
			return mw.Close()
		}()
		_ = pw.CloseWithError(err)
	}()
	// Up to 100 MiB go up, and the head unpacks them before it answers:
	// more time than the client's default minute.
	upload := *c
	upload.http = &http.Client{Timeout: 10 * time.Minute}
	var info jobs.Info
	err = upload.do(ctx, http.MethodPost, "/api/jobs/", nil, pr, mw.FormDataContentType(), &info)
	_ = pr.CloseWithError(errors.New("the request ended")) // unblocks the writer if the server answered early
	if err != nil {
		return nil, err
	}
	return &info, nil
}

// followLogs streams job id's log to out until the job ends. A stream
// that breaks or ends early (the head restarted or stopped) resumes where
// it stopped, at the API's address resolved again (a restarted head's may
// differ), for up to a minute of the API not answering.
func followLogs(ctx context.Context, cf *clusterFlags, c *apiClient, id string, out io.Writer) error {
	var offset int64
	for failures := 0; ; {
		stream := *c
		stream.http = &http.Client{} // no overall timeout: a job may run for days
		q := url.Values{"follow": {"1"}, "offset": {strconv.FormatInt(offset, 10)}}
		resp, err := stream.send(ctx, http.MethodGet, jobPath(id, "/logs"), q, nil, "")
		if err == nil {
			var n int64
			n, err = io.Copy(out, resp.Body)
			_ = resp.Body.Close()
			offset += n
			if err == nil {
				// The server ends the stream when the job ends, or when it
				// stops: ask which.
				var info jobs.Info
				if info, err = getJob(ctx, c, id); err == nil && info.Status.Terminal() {
					return nil
				}
			}
		}
		var apiErr *APIError
		if errors.As(err, &apiErr) && apiErr.Status != http.StatusServiceUnavailable {
			return err
		}
		if err != nil {
			if failures++; failures > 60 {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
		if again, rerr := cf.api(ctx); rerr == nil {
			c = again
		}
	}
}

// jobOutcome prints how job id ended and fails unless it SUCCEEDED.
func jobOutcome(ctx context.Context, c *apiClient, id string, out io.Writer) error {
	info, err := getJob(ctx, c, id)
	if err != nil {
		return err
	}
	if !info.Status.Terminal() {
		return fmt.Errorf("the log of job '%s' ended but the job is %s", id, info.Status)
	}
	if info.Status != jobs.Succeeded {
		return fmt.Errorf("job '%s' %s: %s", id, info.Status, info.Message)
	}
	fmt.Fprintf(out, "Job '%s' SUCCEEDED.\n", id)
	return nil
}

func newJobStatus() *cobra.Command {
	var cf clusterFlags
	var format string
	cmd := &cobra.Command{
		Use:   "status SUBMISSION_ID",
		Short: "Show a job's status",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.api(cmd.Context())
			if err != nil {
				return err
			}
			info, err := getJob(cmd.Context(), c, args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			switch format {
			case "json":
				return printJSON(out, info)
			case "table":
			default:
				return fmt.Errorf("--format must be table or json, not %q", format)
			}
			fmt.Fprintf(out, "submission_id: %s\nstatus:        %s\n", info.SubmissionID, info.Status)
			if info.Message != "" {
				fmt.Fprintf(out, "message:       %s\n", info.Message)
			}
			fmt.Fprintf(out, "entrypoint:    %s\n", strings.Join(info.Entrypoint, " "))
			if info.ExitCode != nil {
				fmt.Fprintf(out, "exit_code:     %d\n", *info.ExitCode)
			}
			if info.DriverJobID != "" {
				fmt.Fprintf(out, "driver_job_id: %s\n", info.DriverJobID)
			}
			fmt.Fprintf(out, "start_time:    %s\nend_time:      %s\nlog:           %s\n", msTime(info.StartTime), msTime(info.EndTime), info.LogPath)
			return nil
		},
	}
	cf.registerJob(cmd)
	cmd.Flags().StringVar(&format, "format", "table", "table or json")
	return cmd
}

func msTime(ms int64) string {
	if ms == 0 {
		return "-"
	}
	return time.UnixMilli(ms).UTC().Format(time.RFC3339)
}

func newJobLogs() *cobra.Command {
	var cf clusterFlags
	var follow bool
	cmd := &cobra.Command{
		Use:   "logs SUBMISSION_ID",
		Short: "Print a job's log (stdout and stderr); --follow streams it until the job ends",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.api(cmd.Context())
			if err != nil {
				return err
			}
			if follow {
				return followLogs(cmd.Context(), &cf, c, args[0], cmd.OutOrStdout())
			}
			resp, err := c.send(cmd.Context(), http.MethodGet, jobPath(args[0], "/logs"), nil, nil, "")
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			_, err = io.Copy(cmd.OutOrStdout(), resp.Body)
			return err
		},
	}
	cf.registerJob(cmd)
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "stream the log until the job ends")
	return cmd
}

func newJobStop() *cobra.Command {
	var cf clusterFlags
	var noWait bool
	cmd := &cobra.Command{
		Use:   "stop SUBMISSION_ID",
		Short: "Stop a job: SIGTERM to its processes, SIGKILL after a grace period",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.api(cmd.Context())
			if err != nil {
				return err
			}
			id := args[0]
			var reply dashboard.StopReply
			if err := c.do(cmd.Context(), http.MethodPost, jobPath(id, "/stop"), nil, nil, "", &reply); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if !reply.Stopped {
				info, err := getJob(cmd.Context(), c, id)
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "Job '%s' had already ended: %s.\n", id, info.Status)
				return nil
			}
			fmt.Fprintf(out, "Stopping job '%s'.\n", id)
			if noWait {
				return nil
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
			defer cancel()
			for {
				info, err := getJob(ctx, c, id)
				if err != nil {
					return err
				}
				if info.Status.Terminal() {
					fmt.Fprintf(out, "Job '%s' %s.\n", id, info.Status)
					return nil
				}
				select {
				case <-ctx.Done():
					return fmt.Errorf("job '%s' is still %s", id, info.Status)
				case <-time.After(100 * time.Millisecond):
				}
			}
		},
	}
	cf.registerJob(cmd)
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "return once the stop is asked for")
	return cmd
}

func newJobList() *cobra.Command {
	var cf clusterFlags
	var format string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the submitted jobs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "table" && format != "json" {
				return fmt.Errorf("--format must be table or json, not %q", format)
			}
			c, err := cf.api(cmd.Context())
			if err != nil {
				return err
			}
			var list []jobs.Info
			if err := c.get(cmd.Context(), "/api/jobs/", nil, &list); err != nil {
				return err
			}
			if format == "json" {
				if list == nil {
					list = []jobs.Info{}
				}
				return printJSON(cmd.OutOrStdout(), list)
			}
			rows := make([]row, 0, len(list))
			for _, j := range list {
				code := "-"
				if j.ExitCode != nil {
					code = strconv.Itoa(*j.ExitCode)
				}
				driver := j.DriverJobID
				if driver == "" {
					driver = "-"
				}
				rows = append(rows, row{"submission_id": j.SubmissionID, "status": j.Status, "exit_code": code,
					"driver_job_id": driver, "start_time": msTime(j.StartTime), "entrypoint": strings.Join(j.Entrypoint, " ")})
			}
			printRows(cmd.OutOrStdout(), []string{"submission_id", "status", "exit_code", "driver_job_id", "start_time", "entrypoint"}, rows)
			return nil
		},
	}
	cf.registerJob(cmd)
	cmd.Flags().StringVar(&format, "format", "table", "table or json")
	return cmd
}

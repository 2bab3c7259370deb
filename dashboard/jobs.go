package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/rayo-dev/rayo/internal/jobs"
)

// Job submission, modelled on Ray's Jobs REST API:
//
//	POST /api/jobs/               submit (JSON spec, or multipart: "spec" then "working_dir")
//	GET  /api/jobs/               every job's record
//	GET  /api/jobs/{id}           one job's record
//	GET  /api/jobs/{id}/logs      its log (?follow=1: streamed until the job ends; ?offset=N)
//	POST /api/jobs/{id}/stop      stop it
//
// The job manager (internal/jobs) lives in the dashboard's process, the
// head daemon: jobs are children of the head.

// SubmitRequest is the spec of a submission: the JSON body, or the
// "spec" part of a multipart body whose "working_dir" part is the
// working directory as a gzipped tar (jobs.Pack).
type SubmitRequest struct {
	Entrypoint   []string          `json:"entrypoint"`
	SubmissionID string            `json:"submission_id,omitempty"`
	EnvVars      map[string]string `json:"env_vars,omitempty"`
}

// StopReply says whether the job was running when asked to stop.
type StopReply struct {
	Stopped bool `json:"stopped"`
}

// Multipart part names of a submission.
const (
	PartSpec       = "spec"
	PartWorkingDir = "working_dir"
)

func (s *Server) jobRoutes() {
	s.jobs, s.jobsErr = jobs.New(jobs.Config{SessionDir: s.cfg.SessionDir, HeadAddr: s.cfg.HeadAddr, Token: s.cfg.Token,
		Call: s.call, Log: s.log.With("component", "jobs")})
	if s.jobsErr != nil {
		s.log.Error("job submission is not available", "err", s.jobsErr)
	}
	for _, p := range []string{"/api/jobs", "/api/jobs/{$}"} {
		s.mux.HandleFunc("POST "+p, s.withJobs(s.submitJob))
		s.mux.HandleFunc("GET "+p, s.withJobs(s.listJobs))
	}
	s.mux.HandleFunc("GET /api/jobs/{id}", s.withJobs(s.getJob))
	s.mux.HandleFunc("GET /api/jobs/{id}/logs", s.withJobs(s.jobLogs))
	s.mux.HandleFunc("POST /api/jobs/{id}/stop", s.withJobs(s.stopJob))
}

// withJobs answers 503 where the job manager could not start.
func (s *Server) withJobs(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.jobs == nil {
			writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("job submission is not available: %v", s.jobsErr))
			return
		}
		h(w, r)
	}
}

// writeJobError answers an error of the job manager.
func writeJobError(w http.ResponseWriter, err error) {
	var tooBig *http.MaxBytesError
	switch {
	case errors.Is(err, jobs.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, jobs.ErrDuplicate):
		writeError(w, http.StatusConflict, err.Error())
	case errors.Is(err, jobs.ErrPackageTooLarge), errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, err.Error())
	case errors.Is(err, jobs.ErrInvalid), errors.Is(err, jobs.ErrBadPackage), errors.Is(err, jobs.ErrUnsafePath):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, jobs.ErrClosed), errors.Is(err, context.DeadlineExceeded), errors.Is(err, errHeadDown):
		writeError(w, http.StatusServiceUnavailable, err.Error())
	default:
		writeError(w, http.StatusInternalServerError, err.Error())
	}
}

var errBadSpec = fmt.Errorf("%w: the spec", jobs.ErrInvalid)

func decodeSpec(r io.Reader) (jobs.Submission, error) {
	var req SubmitRequest
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return jobs.Submission{}, fmt.Errorf("%w is not valid JSON of the submission's shape "+
			`({"entrypoint": ["cmd", "arg"], "submission_id": "...", "env_vars": {"K": "V"}}): %v`, errBadSpec, err)
	}
	return jobs.Submission{ID: req.SubmissionID, Entrypoint: req.Entrypoint, Env: req.EnvVars}, nil
}

func (s *Server) submitJob(w http.ResponseWriter, r *http.Request) {
	// A working directory of up to MaxPackageSize may take a while on a
	// slow link: longer than the guard's body deadline, still bounded.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(jobUploadTimeout))
	r.Body = http.MaxBytesReader(w, r.Body, jobs.MaxPackageSize+1<<20)
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var info jobs.Info
	var err error
	switch mt {
	case "application/json", "":
		var sub jobs.Submission
		if sub, err = decodeSpec(r.Body); err == nil {
			info, err = s.jobs.Submit(r.Context(), sub, nil)
		}
	case "multipart/form-data":
		info, err = s.submitMultipart(r)
	default:
		err = fmt.Errorf("%w: Content-Type %q: send application/json or multipart/form-data", jobs.ErrInvalid, mt)
	}
	if err != nil {
		writeJobError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

// submitMultipart reads the spec part, then streams the working_dir part
// (if any) into the manager, which unpacks it as it arrives.
func (s *Server) submitMultipart(r *http.Request) (jobs.Info, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return jobs.Info{}, fmt.Errorf("%w: %v", jobs.ErrInvalid, err)
	}
	part, err := mr.NextPart()
	if err != nil || part.FormName() != PartSpec {
		return jobs.Info{}, fmt.Errorf("%w: the first part must be %q", jobs.ErrInvalid, PartSpec)
	}
	sub, err := decodeSpec(part)
	if err != nil {
		return jobs.Info{}, err
	}
	var pkg io.Reader
	part, err = mr.NextPart()
	switch {
	case errors.Is(err, io.EOF):
	case err != nil:
		return jobs.Info{}, fmt.Errorf("%w: %w", jobs.ErrBadPackage, err)
	case part.FormName() != PartWorkingDir:
		return jobs.Info{}, fmt.Errorf("%w: unexpected part %q (want %q)", jobs.ErrInvalid, part.FormName(), PartWorkingDir)
	default:
		pkg = part
	}
	return s.jobs.Submit(r.Context(), sub, pkg)
}

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) {
	list, err := s.jobs.List(r.Context())
	if err != nil {
		writeJobError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request) {
	info, err := s.jobs.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		writeJobError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

func (s *Server) stopJob(w http.ResponseWriter, r *http.Request) {
	stopped, err := s.jobs.Stop(r.Context(), r.PathValue("id"))
	if err != nil {
		writeJobError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, StopReply{Stopped: stopped})
}

// jobLogs answers the job's log as text, from ?offset=N bytes on; with
// ?follow=1 it streams the log (chunked, flushed as bytes arrive) until
// the job ends (a client whose stream broke resumes with the offset).
func (s *Server) jobLogs(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.jobs.Check(r.Context(), id); err != nil {
		writeJobError(w, err)
		return
	}
	var offset int64
	if v := r.URL.Query().Get("offset"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("offset %q is not a byte offset", v))
			return
		}
		offset = n
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if f := r.URL.Query().Get("follow"); f == "" || f == "0" || f == "false" {
		if err := s.jobs.ReadLog(id, offset, w); err != nil {
			s.log.Warn("reading a job's log failed", "submission_id", id, "err", err)
		}
		return
	}
	// The stream ends when the job does, when the client goes, or when
	// the server stops.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		select {
		case <-s.stopping:
			cancel()
		case <-ctx.Done():
		}
	}()
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	if err := s.jobs.Follow(ctx, id, offset, w, func() { _ = rc.Flush() }); err != nil && ctx.Err() == nil {
		s.log.Warn("following a job's log ended early", "submission_id", id, "err", err)
	}
}

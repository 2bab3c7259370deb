package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/rayo-dev/rayo/internal/protocol"
)

// The logs API: the files of each node's session logs directory, served
// by the node daemons (node.ListLogs, node.ReadLog) through the head's
// HTTP server.
//
//	GET /api/v0/logs[?node_id=ID]                              the files, as a list
//	GET /api/v0/logs/file?node_id=ID&filename=F[&tail=N][&follow=1]  one file, as text

// TruncatedHeader is set on a tail that is longer than one node reply
// (protocol.MaxLogRead) and holds only its end.
const TruncatedHeader = "X-Rayo-Log-Truncated"

// FollowPoll is how often a follow asks the node for new bytes.
const FollowPoll = 200 * time.Millisecond

func (s *Server) logRoutes() {
	s.mux.HandleFunc("GET /api/v0/logs", s.serveList("node_id", s.logRows))
	s.mux.HandleFunc("GET /api/v0/logs/file", s.serveLogFile)
}

// writeLogError answers an error of the logs API.
func writeLogError(w http.ResponseWriter, err error) {
	if errors.Is(err, errNodeUnavailable) {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	writeCallError(w, err)
}

// logRows lists the files of one node or of every alive node, asking the
// nodes in parallel; a node that is dead or does not answer is a warning.
func (s *Server) logRows(r *http.Request) ([]Row, []string, error) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	one := r.URL.Query().Get("node_id")
	nodes, err := s.liveNodes(ctx, one)
	if errors.Is(err, errNodeUnavailable) {
		// A list answers what it can: nothing, and why.
		return nil, []string{err.Error()}, nil
	}
	if err != nil {
		return nil, nil, err
	}
	rows, warnings := s.eachNode(ctx, nodes, "did not list its logs", func(ctx context.Context, n nodeRef) ([]Row, error) {
		var reply protocol.ListLogsReply
		if err := s.nodeCall(ctx, n, protocol.NodeListLogs, &protocol.Empty{}, &reply); err != nil {
			return nil, err
		}
		rows := make([]Row, 0, len(reply.Files))
		for _, f := range reply.Files {
			rows = append(rows, Row{"node_id": n.id, "filename": f.Name, "size_bytes": f.Size,
				"modified_ms": f.ModifiedMs, "pid": f.Pid, "job_id": f.JobID, "kind": f.Kind})
		}
		return rows, nil
	})
	// By node, then by file name (serveList's sort by node_id is stable).
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if a["node_id"] != b["node_id"] {
			return a["node_id"].(string) < b["node_id"].(string)
		}
		return a["filename"].(string) < b["filename"].(string)
	})
	return rows, warnings, nil
}

// logFileQuery is a /api/v0/logs/file request.
type logFileQuery struct {
	node, file string
	tail       int
	follow     bool
}

func parseLogFileQuery(r *http.Request) (logFileQuery, error) {
	v := r.URL.Query()
	q := logFileQuery{node: v.Get("node_id"), file: v.Get("filename")}
	if q.node == "" || q.file == "" {
		return q, errors.New("node_id and filename are required")
	}
	if t := v.Get("tail"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 {
			return q, fmt.Errorf("tail %q is not a number of lines", t)
		}
		q.tail = n
	}
	if f := v.Get("follow"); f != "" {
		b, err := strconv.ParseBool(f)
		if err != nil {
			return q, fmt.Errorf("follow %q is not a boolean", f)
		}
		q.follow = b
	}
	return q, nil
}

// serveLogFile answers one file as text: the whole of it, or its last
// lines; with follow, then what is appended to it until the client goes
// away or the server stops.
func (s *Server) serveLogFile(w http.ResponseWriter, r *http.Request) {
	q, err := parseLogFileQuery(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	// The first read, before any byte is sent, decides the status.
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	nodes, err := s.liveNodes(ctx, q.node)
	var first protocol.ReadLogReply
	if err == nil {
		req := &protocol.ReadLogRequest{Name: q.file, TailLines: q.tail}
		err = s.nodeCall(ctx, nodes[0], protocol.NodeReadLog, req, &first)
	}
	cancel()
	if err != nil {
		writeLogError(w, err)
		return
	}
	n := nodes[0]
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if first.Truncated {
		// The tail asked for is longer than a node reply: its end only.
		w.Header().Set(TruncatedHeader, "true")
	}
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(first.Data); err != nil {
		return
	}
	rc := http.NewResponseController(w)
	pos := first.Offset + int64(len(first.Data))
	// Without a tail, the whole file: read on until its size when asked.
	for q.tail == 0 && pos < first.Size {
		more, err := s.readLogAt(r.Context(), n, q.file, pos)
		if err != nil || len(more.Data) == 0 {
			return
		}
		if _, err := w.Write(more.Data); err != nil {
			return
		}
		pos += int64(len(more.Data))
	}
	if !q.follow {
		return
	}
	_ = rc.Flush()
	s.follow(r.Context(), w, rc, n, q.file, pos)
}

func (s *Server) readLogAt(ctx context.Context, n nodeRef, file string, off int64) (*protocol.ReadLogReply, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var rep protocol.ReadLogReply
	err := s.nodeCall(ctx, n, protocol.NodeReadLog, &protocol.ReadLogRequest{Name: file, Offset: off}, &rep)
	return &rep, err
}

// follow streams what is appended to the file from pos, polling the node
// every FollowPoll. A file that shrank (rewritten) is followed from its
// start again. A node that stops answering ends the stream.
func (s *Server) follow(ctx context.Context, w http.ResponseWriter, rc *http.ResponseController, n nodeRef, file string, pos int64) {
	if !s.track() {
		return
	}
	defer s.wg.Done()
	t := time.NewTicker(FollowPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.stopping:
			return
		case <-t.C:
		}
		for {
			rep, err := s.readLogAt(ctx, n, file, pos)
			if err != nil {
				return
			}
			if rep.Size < pos {
				pos = 0
				continue
			}
			if len(rep.Data) == 0 {
				break
			}
			if _, err := w.Write(rep.Data); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
			pos += int64(len(rep.Data))
		}
	}
}

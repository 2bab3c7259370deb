package proc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"math"
	"net"

	"github.com/apache/arrow-go/v18/arrow"
)

// maxRequest bounds one request line (metrics, a traceback): a longer
// one ends the connection, and the script's next call fails.
const maxRequest = 16 << 20

// request is any request of the script; each op reads its fields.
type request struct {
	ID int64  `json:"id"`
	Op string `json:"op"`
	// report
	Metrics    json.RawMessage `json:"metrics"`
	Checkpoint *string         `json:"checkpoint"`
	// shard, shard_next
	Name      string `json:"name"`
	BatchSize int    `json:"batch_size"`
	Start     bool   `json:"start"`
	Epoch     int64  `json:"epoch"`
	// fail
	Type              string `json:"type"`
	Message           string `json:"message"`
	Traceback         string `json:"traceback"`
	CollectiveTimeout bool   `json:"collective_timeout"`
}

// wireError is an error reply; the script raises rayo.train.TrainError
// with the message.
type wireError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

type reply struct {
	ID     int64      `json:"id"`
	OK     any        `json:"ok,omitempty"`
	Error  *wireError `json:"error,omitempty"`
	Nbytes int        `json:"nbytes,omitempty"`
}

// failure is what the launcher sent about an uncaught exception.
type failure struct {
	typ, message, traceback string
	collectiveTimeout       bool
}

// epoch is one pass over a shard, pulled a batch at a time.
type epoch struct {
	id   int64
	next func() (arrow.RecordBatch, error, bool)
	stop func()
}

// server answers one script's requests, one at a time, on one goroutine
// (the iterators' pull functions are called from it alone).
type server struct {
	h       Handler
	conn    net.Conn
	w       *bufio.Writer
	enc     *json.Encoder
	shards  map[string]Shard
	epochs  map[string]*epoch
	epochID int64
	failed  *failure // read by Run once serve has returned
}

func newServer(h Handler, conn net.Conn) *server {
	w := bufio.NewWriterSize(conn, 64<<10)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &server{h: h, conn: conn, w: w, enc: enc, shards: map[string]Shard{}, epochs: map[string]*epoch{}}
}

// serve answers requests until the connection ends.
func (s *server) serve(ctx context.Context) {
	defer func() {
		for name := range s.epochs {
			s.endEpoch(name)
		}
	}()
	sc := bufio.NewScanner(s.conn)
	sc.Buffer(make([]byte, 64<<10), maxRequest)
	for sc.Scan() {
		var req request
		var rep reply
		var pieces [][]byte
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			rep.Error = &wireError{Type: "ProtocolError", Message: "proc: a request that is not JSON: " + err.Error()}
		} else {
			rep.ID = req.ID
			var err error
			rep.OK, pieces, rep.Nbytes, err = s.handle(ctx, &req)
			if err != nil {
				rep.OK, pieces, rep.Nbytes = nil, nil, 0
				rep.Error = &wireError{Type: "TrainError", Message: err.Error()}
			}
		}
		if err := s.enc.Encode(&rep); err != nil {
			// A reply that cannot be encoded (a Context value JSON
			// cannot hold) is the handler's error, told as such.
			rep = reply{ID: rep.ID, Error: &wireError{Type: "TrainError", Message: "proc: encoding the reply: " + err.Error()}}
			pieces = nil
			if s.enc.Encode(&rep) != nil {
				return
			}
		}
		for _, p := range pieces {
			if _, err := s.w.Write(p); err != nil {
				return
			}
		}
		if s.w.Flush() != nil {
			return
		}
	}
}

var errNoHandler = errors.New("proc: this worker serves no rayo.train requests (no Handler)")

// handle answers one request: the reply's "ok" and any payload.
func (s *server) handle(ctx context.Context, req *request) (any, [][]byte, int, error) {
	if s.h == nil && req.Op != "fail" {
		return nil, nil, 0, errNoHandler
	}
	switch req.Op {
	case "context":
		b, err := json.Marshal(s.h.Context())
		if err != nil {
			return nil, nil, 0, fmt.Errorf("proc: encoding the context: %w", err)
		}
		return json.RawMessage(b), nil, 0, nil
	case "report":
		m, err := decodeMetrics(req.Metrics)
		if err != nil {
			return nil, nil, 0, err
		}
		dir := ""
		if req.Checkpoint != nil {
			dir = *req.Checkpoint
		}
		if err := s.h.Report(ctx, m, dir); err != nil {
			return nil, nil, 0, err
		}
		return struct{}{}, nil, 0, nil
	case "checkpoint":
		dir, err := s.h.Checkpoint(ctx)
		if err != nil {
			return nil, nil, 0, err
		}
		var path *string
		if dir != "" {
			path = &dir
		}
		return map[string]*string{"path": path}, nil, 0, nil
	case "shard":
		if _, err := s.shard(ctx, req.Name); err != nil {
			return nil, nil, 0, err
		}
		return struct{}{}, nil, 0, nil
	case "shard_next":
		return s.next(ctx, req)
	case "fail":
		s.failed = &failure{typ: req.Type, message: req.Message, traceback: req.Traceback, collectiveTimeout: req.CollectiveTimeout}
		return struct{}{}, nil, 0, nil
	}
	return nil, nil, 0, fmt.Errorf("proc: unknown request %q", req.Op)
}

// shard returns the named shard, asking the handler once per name.
func (s *server) shard(ctx context.Context, name string) (Shard, error) {
	if sh, ok := s.shards[name]; ok {
		return sh, nil
	}
	sh, err := s.h.Shard(ctx, name)
	if err != nil {
		return nil, err
	}
	if sh == nil {
		return nil, fmt.Errorf("proc: no dataset shard %q", name)
	}
	s.shards[name] = sh
	return sh, nil
}

// next answers shard_next: the next non-empty batch of the shard's
// current epoch, or {"done": true}; start begins a new epoch (ending
// the one before).
func (s *server) next(ctx context.Context, req *request) (any, [][]byte, int, error) {
	var ep *epoch
	if req.Start {
		s.endEpoch(req.Name)
		sh, err := s.shard(ctx, req.Name)
		if err != nil {
			return nil, nil, 0, err
		}
		if req.BatchSize < 0 {
			return nil, nil, 0, fmt.Errorf("proc: batch size %d", req.BatchSize)
		}
		s.epochID++
		next, stop := iter.Pull2(sh.Batches(ctx, req.BatchSize))
		ep = &epoch{id: s.epochID, next: next, stop: stop}
		s.epochs[req.Name] = ep
	} else {
		ep = s.epochs[req.Name]
		if ep == nil || ep.id != req.Epoch {
			return nil, nil, 0, fmt.Errorf("proc: this iteration over shard %q has ended (it failed, or a newer one started)", req.Name)
		}
	}
	for {
		rec, err, ok := ep.next()
		if !ok {
			s.endEpoch(req.Name)
			return map[string]any{"done": true, "epoch": ep.id}, nil, 0, nil
		}
		if err != nil {
			s.endEpoch(req.Name)
			return nil, nil, 0, err
		}
		if rec == nil || rec.NumRows() == 0 {
			continue
		}
		hdr, pieces, n, err := encodeBatch(rec)
		if err != nil {
			s.endEpoch(req.Name)
			return nil, nil, 0, err
		}
		hdr.Epoch = ep.id
		return hdr, pieces, n, nil
	}
}

func (s *server) endEpoch(name string) {
	if ep, ok := s.epochs[name]; ok {
		ep.stop()
		delete(s.epochs, name)
	}
}

// decodeMetrics decodes report's metrics: integers as int64, other
// numbers as float64, {"__float__": "nan"|"inf"|"-inf"} as those floats.
func decodeMetrics(raw json.RawMessage) (map[string]any, error) {
	m := map[string]any{}
	if len(raw) == 0 || string(raw) == "null" {
		return m, nil
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		return nil, fmt.Errorf("proc: metrics must be a dict: %w", err)
	}
	for k, v := range m {
		m[k] = fromJSON(v)
	}
	return m, nil
}

func fromJSON(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		if s, ok := x["__float__"].(string); ok && len(x) == 1 {
			switch s {
			case "nan":
				return math.NaN()
			case "inf":
				return math.Inf(1)
			case "-inf":
				return math.Inf(-1)
			}
		}
		for k, e := range x {
			x[k] = fromJSON(e)
		}
	case []any:
		for i, e := range x {
			x[i] = fromJSON(e)
		}
	}
	return v
}

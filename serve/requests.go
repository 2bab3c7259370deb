package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/rayo-dev/rayo"
)

// Requests from the dashboard (`rayo serve deploy` and `rayo serve
// shutdown` through PUT and DELETE /api/serve/applications/): the
// dashboard runs in the head daemon and cannot call actors, so it writes
// a request record, create-only, under requestKey; the controller polls
// that key on its loop's tick, handles the request, writes an opsResult
// under resultPrefix+ID, which the dashboard waits for, and deletes the
// request. dashboard/serve.go mirrors these records.

const (
	requestKey   = "serve/request"
	resultPrefix = "serve/result/"
	// opsTimeout bounds handling one request (a shutdown waits for
	// replicas to drain).
	opsTimeout = 2 * time.Minute
)

// opsRequest is the dashboard's request record.
type opsRequest struct {
	ID     string `json:"id"`
	Op     string `json:"op"` // "deploy" or "shutdown"
	Config string `json:"config,omitempty"`
}

// opsResult is the controller's answer to one.
type opsResult struct {
	ID    string `json:"id"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	// Invalid: the config was at fault (the dashboard answers 400).
	Invalid bool `json:"invalid,omitempty"`
}

// pollRequest starts handling the pending request, if there is one and
// none is being handled.
func (c *controllerActor) pollRequest(ctx context.Context) {
	if !c.handling.CompareAndSwap(false, true) {
		return
	}
	b, err := rayo.KVGet(ctx, requestKey, rayo.KVNamespace(kvNamespace))
	if err != nil {
		c.handling.Store(false)
		return
	}
	go func() {
		defer c.handling.Store(false)
		c.handleRequest(b)
	}()
}

// handleRequest runs request record b, answers it and deletes it; after
// a shutdown it kills the controller, for good.
func (c *controllerActor) handleRequest(b []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), opsTimeout)
	defer cancel()
	ns := rayo.KVNamespace(kvNamespace)
	var req opsRequest
	if err := json.Unmarshal(b, &req); err != nil || !validRequestID(req.ID) {
		c.log.Warn("dropping a malformed Serve request", "err", err)
		_, _ = rayo.KVDelete(ctx, requestKey, ns)
		return
	}
	c.log.Info("Serve request", "id", req.ID, "op", req.Op)
	var err error
	switch req.Op {
	case "deploy":
		err = c.deployFile(ctx, []byte(req.Config))
	case "shutdown":
		_, err = c.shutdown(ctx)
	default:
		err = errors.New("serve: unknown request " + req.Op)
	}
	res := opsResult{ID: req.ID, OK: err == nil}
	if err != nil {
		res.Error = err.Error()
		res.Invalid = errors.Is(err, ErrInvalidConfig) || errors.Is(err, ErrUnavailable)
	}
	// Delete the request (unless the dashboard gave up on it and another
	// took its place), then answer: a caller that has the answer may send
	// the next request at once, and the key must be free for it.
	if cur, gerr := rayo.KVGet(ctx, requestKey, ns); gerr == nil && bytes.Equal(cur, b) {
		_, _ = rayo.KVDelete(ctx, requestKey, ns)
	}
	if rb, merr := json.Marshal(res); merr == nil {
		_, _ = rayo.KVPut(ctx, resultPrefix+req.ID, rb, ns)
	}
	if req.Op == "shutdown" && err == nil {
		if h, err := controller(ctx); err == nil {
			_ = rayo.Kill(ctx, h, true)
		}
	}
}

// validRequestID accepts the IDs the dashboard makes (hex), so that an
// ID cannot name another key.
func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') {
			return false
		}
	}
	return true
}

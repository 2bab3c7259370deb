package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/rayo-dev/rayo"
)

// Requests from the dashboard (`rayo serve deploy` and `rayo serve
// shutdown` through PUT and DELETE /api/serve/applications/): the
// dashboard runs in the head daemon and cannot call actors, so it writes
// a request record, create-only, under requestKey; the controller polls
// that key on its loop's tick, claims the request, handles it, deletes
// it, writes an opsResult under resultPrefix+ID, which the dashboard
// waits for, and drops its claim. dashboard/serve_ops.go mirrors these
// records.
//
// The claim (claimPrefix+ID, created create-only by whichever side comes
// first) decides who has a request: a dashboard whose wait runs out
// claims it too, and either wins it, so the request is withdrawn for
// sure (the controller then skips it), or loses it, so the controller
// is carrying it out (the dashboard answers 202, and the answer is left
// for sweep).

const (
	requestKey   = "serve/request"
	resultPrefix = "serve/result/"
	// claimPrefix lies under resultPrefix because a shutdown keeps the
	// answers, and so keeps the claims too: with its claim deleted, a
	// dashboard could claim, and so "withdraw", a shutdown being done.
	claimPrefix       = resultPrefix + "claim/"
	claimByController = "controller"
	// answerTTL is how long an answer no one read is kept.
	answerTTL = 10 * time.Minute
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
	// At is when it was answered, for sweep.
	At time.Time `json:"at"`
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

// handleRequest claims request record b, runs it, deletes it, answers
// it and drops the claim; after a shutdown it kills the controller, for
// good.
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
	claimKey := claimPrefix + req.ID
	mine, err := claimRequest(ctx, claimKey)
	switch {
	case err != nil:
		return // the next tick tries again
	case !mine:
		c.log.Info("skipping a withdrawn Serve request", "id", req.ID)
		// The claim goes only once the request has: while the request is
		// there, the claim is what keeps it from running.
		if dropRequest(ctx, b) {
			_, _ = rayo.KVDelete(ctx, claimKey, ns)
		}
		return
	}
	sweep(ctx, req.ID)
	c.log.Info("Serve request", "id", req.ID, "op", req.Op)
	switch req.Op {
	case "deploy":
		err = c.deployFile(ctx, []byte(req.Config))
	case "shutdown":
		_, err = c.shutdownAnswering(ctx, req.ID)
	default:
		err = errors.New("serve: unknown request " + req.Op)
	}
	res := opsResult{ID: req.ID, OK: err == nil, At: time.Now()}
	if err != nil {
		res.Error = err.Error()
		res.Invalid = errors.Is(err, ErrInvalidConfig) || errors.Is(err, ErrUnavailable)
	}
	// The request goes first: a caller that has the answer may send the
	// next request at once, and the key must be free for it. The claim
	// goes last: a dashboard that found it gone before the answer came
	// would win it and wrongly report the request withdrawn.
	// With a ctx of their own: the request's may have run out (a long
	// drain), and unanswered it would run again.
	ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	dropRequest(ctx, b)
	answered := false
	if rb, merr := json.Marshal(res); merr == nil {
		_, perr := rayo.KVPut(ctx, resultPrefix+req.ID, rb, ns)
		answered = perr == nil
	}
	if answered { // else the claim stays: the request was carried out, not withdrawn
		_, _ = rayo.KVDelete(ctx, claimKey, ns)
	}
	if req.Op == "shutdown" && err == nil {
		if h, err := controller(ctx); err == nil {
			_ = rayo.Kill(ctx, h, true)
		}
	}
}

// claimRequest claims a request for the controller, create-only, and
// reports whether the controller has it. A claim the controller already
// holds was taken by an earlier controller that crashed or restarted
// before it answered: handling the request again is safe, because both
// operations are idempotent (a deploy applies the whole desired state, a
// shutdown of a stopping Serve finishes stopping it).
func claimRequest(ctx context.Context, key string) (bool, error) {
	ns := rayo.KVNamespace(kvNamespace)
	added, err := rayo.KVPut(ctx, key, []byte(claimByController), ns, rayo.KVNoOverwrite())
	if err != nil || added {
		return added, err
	}
	cur, err := rayo.KVGet(ctx, key, ns)
	if err != nil {
		return false, err
	}
	return string(cur) == claimByController, nil
}

// dropRequest deletes request record b unless another request has taken
// its place (the dashboard withdrew it and sent the next), and reports
// whether b is gone.
func dropRequest(ctx context.Context, b []byte) bool {
	ns := rayo.KVNamespace(kvNamespace)
	cur, err := rayo.KVGet(ctx, requestKey, ns)
	switch {
	case errors.Is(err, rayo.ErrKVNotFound):
		return true
	case err != nil:
		return false
	case !bytes.Equal(cur, b):
		return true
	}
	_, err = rayo.KVDelete(ctx, requestKey, ns)
	return err == nil
}

// sweep deletes what earlier requests left behind: every claim but id's
// (while id is claimed the request key holds id, so the others' requests
// are gone for good and no one can claim them again) and answers older
// than answerTTL, which no one will read (their dashboard answered 202,
// or stopped waiting).
func sweep(ctx context.Context, id string) {
	ns := rayo.KVNamespace(kvNamespace)
	keys, err := rayo.KVList(ctx, resultPrefix, ns)
	if err != nil {
		return
	}
	for _, k := range keys {
		if claimed, ok := strings.CutPrefix(k, claimPrefix); ok {
			if claimed != id {
				_, _ = rayo.KVDelete(ctx, k, ns)
			}
			continue
		}
		b, err := rayo.KVGet(ctx, k, ns)
		if err != nil {
			continue
		}
		var res opsResult
		if json.Unmarshal(b, &res) != nil || time.Since(res.At) > answerTTL {
			_, _ = rayo.KVDelete(ctx, k, ns)
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

package dashboard

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/rayo-dev/rayo/internal/protocol"
)

// Serve's operations (Ray's serve deploy, serve shutdown and serve
// config, as `rayo serve deploy|shutdown|config` send them):
//
//	PUT    /api/serve/applications/  apply a config (YAML or JSON body)
//	DELETE /api/serve/applications/  shut Serve down
//	GET    /api/serve/config         the last config applied (text/yaml)
//
// The dashboard cannot call actors: it writes a request record,
// create-only, to the key-value store, where the Serve controller polls
// for it, and waits for the controller's answer record (serve/requests.go
// keeps the other side and tells the protocol; these records mirror its).
// When the wait runs out, the dashboard claims the request as the
// controller does before handling it: winning withdraws it (504, nothing
// was done), losing means the controller is carrying it out (202).

const (
	serveRequestKey   = "serve/request"
	serveResultPrefix = "serve/result/"
	serveClaimPrefix  = serveResultPrefix + "claim/"
	claimByDashboard  = "dashboard"
	serveConfigKey    = "serve/config"
	// maxServeConfig bounds a config body (serve's maxConfigText).
	maxServeConfig = 256 << 10
	// defaultServeWait bounds the wait for the controller's answer.
	defaultServeWait = 30 * time.Second
	servePollEvery   = 100 * time.Millisecond
)

// serveRequest and serveResult mirror serve's opsRequest and opsResult.
type serveRequest struct {
	ID     string `json:"id"`
	Op     string `json:"op"`
	Config string `json:"config,omitempty"`
}

type serveResult struct {
	ID      string    `json:"id"`
	OK      bool      `json:"ok"`
	Error   string    `json:"error,omitempty"`
	Invalid bool      `json:"invalid,omitempty"`
	At      time.Time `json:"at"`
}

// ServeOpReply is the answer to a deploy or shutdown that the
// controller carried out.
type ServeOpReply struct {
	OK bool `json:"ok"`
	// Running is false for a shutdown of a Serve that was not running.
	Running bool `json:"running"`
	// Pending (with 202 Accepted): the controller took the request but
	// did not finish it in the wait; Message says so.
	Pending bool   `json:"pending,omitempty"`
	Message string `json:"message,omitempty"`
}

func (s *Server) serveOpsRoutes() {
	s.serveWait = defaultServeWait
	for _, p := range []string{"/api/serve/applications", "/api/serve/applications/"} {
		s.mux.HandleFunc("PUT "+p, s.serveDeploy)
		s.mux.HandleFunc("DELETE "+p, s.serveShutdown)
	}
	s.mux.HandleFunc("GET /api/serve/config", s.serveConfig)
}

func (s *Server) serveDeploy(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxServeConfig))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the config is over %d bytes", maxServeConfig))
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, "reading the config: "+err.Error())
		return
	case len(bytes.TrimSpace(b)) == 0:
		writeError(w, http.StatusBadRequest, "the body is empty: send a Serve config (YAML or JSON)")
		return
	}
	s.serveOp(w, r, serveRequest{Op: "deploy", Config: string(b)})
}

func (s *Server) serveShutdown(w http.ResponseWriter, r *http.Request) {
	s.serveOp(w, r, serveRequest{Op: "shutdown"})
}

// serveOp hands req to the controller and answers with its result.
func (s *Server) serveOp(w http.ResponseWriter, r *http.Request, req serveRequest) {
	ctx := r.Context()
	running, err := s.kvGet(ctx, serveStatusKey)
	if err != nil {
		writeCallError(w, err)
		return
	}
	if running == nil {
		if req.Op == "shutdown" {
			writeJSON(w, http.StatusOK, ServeOpReply{OK: true})
			return
		}
		writeError(w, http.StatusServiceUnavailable, "Serve is not running on this cluster: start it from a program "+
			"(serve.Start, serve.Deploy or rayo serve run), then deploy")
		return
	}
	var id [16]byte
	_, _ = rand.Read(id[:])
	req.ID = hex.EncodeToString(id[:])
	body, err := json.Marshal(req)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	var put protocol.KVPutReply
	if err := s.call(ctx, protocol.HeadKVPut, &protocol.KVPutRequest{Namespace: serveKVNamespace, Key: serveRequestKey, Value: body}, &put); err != nil {
		writeCallError(w, err)
		return
	}
	if !put.Added {
		writeError(w, http.StatusConflict, "another Serve request is pending: try again once it is answered")
		return
	}
	res, err := s.awaitServeResult(ctx, req.ID)
	if err != nil {
		var ok bool
		if res, ok = s.settleServeRequest(w, req.ID, body, err); !ok {
			return
		}
	}
	switch {
	case res.OK:
		writeJSON(w, http.StatusOK, ServeOpReply{OK: true, Running: true})
	case res.Invalid:
		writeError(w, http.StatusBadRequest, res.Error)
	default:
		writeError(w, http.StatusInternalServerError, res.Error)
	}
}

// awaitServeResult polls for the controller's answer to request id.
func (s *Server) awaitServeResult(ctx context.Context, id string) (serveResult, error) {
	ctx, cancel := context.WithTimeout(ctx, s.serveWait)
	defer cancel()
	t := time.NewTicker(servePollEvery)
	defer t.Stop()
	for {
		res, found, err := s.takeServeResult(ctx, id)
		if found {
			return res, nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = ctx.Err()
			}
			return serveResult{}, err
		case <-s.stopping:
			return serveResult{}, errors.New("the dashboard is stopping")
		case <-t.C:
		}
	}
}

// takeServeResult reads the controller's answer to request id, if it
// came, and removes it; a malformed one is an error answer.
func (s *Server) takeServeResult(ctx context.Context, id string) (serveResult, bool, error) {
	b, err := s.kvGet(ctx, serveResultPrefix+id)
	if b == nil {
		return serveResult{}, false, err
	}
	_ = s.call(ctx, protocol.HeadKVDelete, &protocol.KVKeyRequest{Namespace: serveKVNamespace, Key: serveResultPrefix + id}, &protocol.KVDeleteReply{})
	var res serveResult
	if err := json.Unmarshal(b, &res); err != nil {
		return serveResult{ID: id, Error: "the Serve controller's answer is malformed: " + err.Error()}, true, nil
	}
	return res, true, nil
}

// settleServeRequest decides request id (record body), which was not
// answered in the wait (waitErr), by claiming it: it answers 504 and
// returns false if the dashboard won the claim (the request is
// withdrawn) or cannot tell, 202 and false if the controller has it, and
// the answer and true if that came meanwhile.
func (s *Server) settleServeRequest(w http.ResponseWriter, id string, body []byte, waitErr error) (serveResult, bool) {
	// Not the request's ctx: its client may have gone, and the request
	// must still be withdrawn.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var put protocol.KVPutReply
	err := s.call(ctx, protocol.HeadKVPut, &protocol.KVPutRequest{Namespace: serveKVNamespace, Key: serveClaimPrefix + id, Value: []byte(claimByDashboard)}, &put)
	if err != nil {
		writeError(w, http.StatusGatewayTimeout, fmt.Sprintf("the Serve controller did not answer in %v (%v), and the request could not be withdrawn (%v): "+
			"it may still be carried out; `rayo serve status` shows Serve's state", s.serveWait, waitErr, err))
		return serveResult{}, false
	}
	// The controller drops its claim only after it answered: the answer
	// may have come since the last poll, whoever won.
	res, found, err := s.takeServeResult(ctx, id)
	switch {
	case found:
		return res, true
	case err != nil:
		writeError(w, http.StatusGatewayTimeout, fmt.Sprintf("the Serve controller did not answer in %v (%v), and its answer cannot be read (%v); "+
			"`rayo serve status` shows Serve's state", s.serveWait, waitErr, err))
	case put.Added:
		// The claim alone keeps the controller from running the
		// request; deleting it frees the key for the next one. The
		// claim stays: the controller drops it once the request is gone.
		if cur, err := s.kvGet(ctx, serveRequestKey); err == nil && bytes.Equal(cur, body) {
			_ = s.call(ctx, protocol.HeadKVDelete, &protocol.KVKeyRequest{Namespace: serveKVNamespace, Key: serveRequestKey}, &protocol.KVDeleteReply{})
		}
		writeError(w, http.StatusGatewayTimeout, fmt.Sprintf("the Serve controller did not answer in %v (%v); the request was withdrawn and nothing was done", s.serveWait, waitErr))
	default:
		writeJSON(w, http.StatusAccepted, ServeOpReply{Running: true, Pending: true, Message: fmt.Sprintf(
			"The Serve controller is still working on the request after %v; `rayo serve status` shows its progress.", s.serveWait)})
	}
	return serveResult{}, false
}

// serveConfig answers the last config applied, as its text.
func (s *Server) serveConfig(w http.ResponseWriter, r *http.Request) {
	b, err := s.kvGet(r.Context(), serveConfigKey)
	if err != nil {
		writeCallError(w, err)
		return
	}
	if b == nil {
		writeError(w, http.StatusNotFound, "no Serve config has been applied on this cluster")
		return
	}
	w.Header().Set("Content-Type", "text/yaml; charset=utf-8")
	_, _ = w.Write(b)
}

// kvGet reads a key of Serve's namespace: nil when it has no value.
func (s *Server) kvGet(ctx context.Context, key string) ([]byte, error) {
	var rep protocol.KVGetReply
	if err := s.call(ctx, protocol.HeadKVGet, &protocol.KVKeyRequest{Namespace: serveKVNamespace, Key: key}, &rep); err != nil {
		return nil, err
	}
	if !rep.Found {
		return nil, nil
	}
	if rep.Value == nil {
		rep.Value = []byte{}
	}
	return rep.Value, nil
}

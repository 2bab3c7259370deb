package dashboard

import (
	"encoding/json"
	"net/http"
)

// Serve's status (Ray's GET /api/serve/applications/): the Serve
// controller keeps it, as JSON, in the head's key-value store; this
// serves it as it is, and an empty list when Serve is not running.

// serveStatusKey and serveKVNamespace are where serve's controller writes
// its status (serve/controller.go).
const (
	serveStatusKey   = "serve/status"
	serveKVNamespace = "app:rayo.serve" // the public KV API prefixes namespaces with "app:"
)

func (s *Server) serveRoutes() {
	s.mux.HandleFunc("GET /api/serve/applications/", s.serveApplications)
	s.mux.HandleFunc("GET /api/serve/applications", s.serveApplications)
	s.serveOpsRoutes()
}

func (s *Server) serveApplications(w http.ResponseWriter, r *http.Request) {
	b, err := s.kvGet(r.Context(), serveStatusKey)
	if err != nil {
		writeCallError(w, err)
		return
	}
	if !json.Valid(b) {
		writeJSON(w, http.StatusOK, map[string]any{"applications": []any{}})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

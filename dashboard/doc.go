// Package dashboard is the head's HTTP server: the state API
// (/api/v0/...), job submission (/api/jobs/...), Prometheus metrics
// (/metrics) and the web UI, whose assets are embedded in the binary.
//
// It is a client of the head like the CLI: it asks the head (and node
// daemons) over the cluster's RPC, with the cluster token, so it holds no
// state of its own beyond what it serves, except the submitted jobs it
// runs (internal/jobs), whose records it keeps in the head's key-value
// store. Every request must carry the
// token, or for reads a browser session that a login with the token
// started (auth.go, session.go), except /metrics from loopback when
// configured so; failed tries are throttled (throttle.go). Before that,
// every request's Host header must name the server, and every answer
// gets the security headers (guard.go). It listens on loopback unless
// told otherwise.
package dashboard

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
// configured so. A login sent by another site's page is refused; failed
// tries are throttled, but the right token always passes (throttle.go);
// only authenticated clients keep their connections alive. Before that,
// every request's Host header must name the server, and every answer
// gets the security headers; below HTTP, connections are capped in all
// and per client address (guard.go). It listens on loopback unless told
// otherwise.
//
// # Locks
//
// Four mutexes, all leaves (none is taken while another is held), none
// held across a call to the head, a node or a job:
//
//   - limitListener.mu: open connections per client address; a refusal is
//     logged under it, at most once a minute.
//   - sessions.mu: browser sessions; loginLimiter.mu: failed logins per
//     client, counted under the lock so that simultaneous tries cannot all
//     pass before the first failure counts.
//   - Server.stopMu: orders a streaming handler's wg.Add (track) after the
//     stopping check against Stop's close and Wait; held for neither I/O
//     nor waiting.
//
// The jobs the dashboard runs have their own locks (internal/jobs), and
// its connections to the head theirs (rpc.Pool); the dashboard holds none
// of its own while calling them.
package dashboard

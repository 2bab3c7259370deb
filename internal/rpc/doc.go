// Package rpc is rayo's transport: multiplexed request/response calls over
// persistent TCP connections, or Unix sockets within a machine, framed as
// a length prefix, a binary header and a msgpack body.
//
// Every connection opens with a challenge-response hello (hello.go,
// docs/encoding.md): each side proves with an HMAC over both sides'
// nonces that it holds the cluster token, which never crosses the wire.
// A client checks the server's proof before it sends its own, so a
// listener that is not the cluster's learns nothing; the server refuses
// (and logs, rate-limited) a connection without the right proof. After
// the hello, any number of calls run concurrently on the connection,
// matched to their replies by ID.
//
// Unix sockets live in a directory of the user's own, checked with Lstat
// on both ends; clients also check the socket's owner and the listening
// process's uid (unix.go). Servers cap the connections still in their
// hello, retry accept errors such as running out of descriptors, and
// report a listener that stops for good through Failed. With WithTLS,
// TCP connections run inside mutual TLS (tls.go).
//
// The same transport carries the control plane (head, node daemons) and the
// hot path (task pushes, object fetches): one connection per peer pair,
// writes coalesced into as few syscalls as the load allows. See
// docs/architecture.md for why rayo does not use gRPC here.
//
// # Locks
//
// Every mutex of the package is a leaf: none is held while another is
// taken, and none is held while a handler, an OnClose function or a Go
// callback runs.
//
//   - conn.wmu orders a connection's frames: it is held across the write
//     of a frame into the connection's buffer and, for the last sender of
//     a burst, the flush to the socket. That is the one blocking network
//     write under a lock, by design: a peer that stops reading stalls the
//     senders to it, and no other connection. Callers must not hold a lock
//     of their own across a send (Call, Go, GoSent) that others need while
//     the peer may be slow (see internal/core's doc for its one such use).
//   - Client.mu guards a client's pending calls and its closing error.
//     Calls are registered under it and sent after; replies and the close
//     path take their entries out under it and deliver them after.
//   - Server.mu guards handlers, listeners, peers and the closed flag.
//     Close closes the listeners and peer connections under it (socket
//     closes; over TLS a close_notify write, bounded to 5 s by crypto/tls).
//   - Server.hmu guards the connections still in their hello; it is never
//     held with Server.mu (Close takes one after the other).
//   - Peer.mu guards a connection's OnClose functions, which run after it
//     is released.
//   - Pool.mu guards the pool's clients: Get dials outside it and keeps
//     one connection when two callers dialed at once.
//   - logLimiter.mu guards a rate limit window; the summary line is
//     logged under it (a log write).
package rpc

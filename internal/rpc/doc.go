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
package rpc

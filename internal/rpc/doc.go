// Package rpc is rayo's transport: multiplexed request/response calls over
// persistent TCP connections, framed as a length prefix plus a msgpack body.
//
// Every connection opens with a hello frame carrying the cluster token; the
// server compares it in constant time and refuses (and logs) a connection
// without it or with a wrong one. After the hello, any number of calls run
// concurrently on the connection, matched to their replies by ID.
//
// The same transport carries the control plane (head, node daemons) and the
// hot path (task pushes, object fetches): one connection per peer pair,
// writes coalesced into as few syscalls as the load allows. See
// docs/architecture.md for why rayo does not use gRPC here.
package rpc

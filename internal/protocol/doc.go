// Package protocol defines the messages and method names that rayo's
// processes exchange over internal/rpc: the head's control plane, the node
// daemon's lease and worker management, and the core runtime's task pushes
// and object fetches. Keeping them in one package makes the wire contract
// reviewable in one place.
package protocol

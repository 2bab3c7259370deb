// Package collective gives the members of a group (the workers of a
// training run: rayo tasks or actors, each in its own process, possibly on
// different machines) collective operations on slices of float32 and
// float64, over direct connections between them: AllReduce (Sum, Mean,
// Min, Max), Broadcast, AllGather, ReduceScatter and Barrier, as
// torch.distributed and Ray's ray.util.collective name them.
//
// Join is the rendezvous: every member calls it with the group's name, its
// rank and the group's size; the members find each other through rayo's
// key-value store (Namespace) and connect as a ring, each rank to rank+1,
// every connection authenticated with a secret rank 0 creates. When the
// members run on several hosts, the operations run the ring algorithms
// over TCP (reduce-scatter then all-gather for AllReduce), in place where
// they can, with raw little-endian floats on the wire and a small header
// per message. When they all run on one host, the data goes through a
// shared-memory segment that every member maps (each reads the others'
// slots directly), and the ring's connections only tell the members when
// one of them dies; WithoutSharedMemory keeps such a group on TCP.
//
// All members must call the same operations in the same order with the
// same lengths (and ops, roots). A member that does otherwise gets
// ErrMismatch, not garbage or a hang; a member that dies makes the others'
// operation fail with ErrPeerLost; an operation that takes longer than
// WithOpTimeout fails with ErrTimeout naming the rank it waited on. After
// any failure (ctx's end included) the Comm is broken (ErrBroken): the
// members are out of step, and the group must be joined again under a new
// name. Close closes the connections and the mapping and removes the
// member's records.
//
// The package uses rayo's public API only.
package collective

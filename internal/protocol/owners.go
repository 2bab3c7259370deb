package protocol

// OwnerHoldsObjects asks an owner which of the listed objects it still
// holds. A node daemon asks it of every owner whose objects are in its
// store: when it first sees one of them and every time it connects to the
// owner again. An object the owner no longer holds (it freed it, or the
// process at that address is another one) is deleted from the store; an
// owner that cannot be reached at all has died, and all its objects go
// (Ray: objects whose owner died are lost and freed everywhere).
const OwnerHoldsObjects = "core.HoldsObjects"

type HoldsObjectsRequest struct {
	ObjectIDs []string `msgpack:"ids"`
}

type HoldsObjectsReply struct {
	// Held are the requested IDs the owner still holds.
	Held []string `msgpack:"held"`
}

// CodeNodeAffinityUnavailable answers a lease request (and an actor's
// creation) whose hard node affinity names a node that is dead or that
// the cluster does not know: it can never run (Ray's
// TaskUnschedulableError).
const CodeNodeAffinityUnavailable = "affinity_unavail"

// DeathAffinity is the death cause of an actor whose hard node affinity
// names a node that is dead or unknown.
const DeathAffinity = "node_affinity"

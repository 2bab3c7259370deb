package collective

import (
	"errors"
	"fmt"

	"github.com/rayo-dev/rayo"
)

// Errors of package collective. An operation's or Join's failure wraps one
// of them (errors.Is), or ctx's error when the caller's ctx ended; a
// failure of rayo's key-value store (in Join, Close, DeleteGroup) is
// returned as rayo gives it.
var (
	// ErrInvalidRank: Join's rank is outside [0, size).
	ErrInvalidRank = errors.New("collective: rank out of range")
	// ErrInvalidSize: Join's size is below 1.
	ErrInvalidSize = errors.New("collective: group size must be at least 1")
	// ErrInvalidOption: a bad group name (empty, or with '/' or NUL), a
	// bad option, a reduction Op that does not exist, a root out of range.
	ErrInvalidOption = errors.New("collective: invalid option")
	// ErrRankTaken: another member already joined the group with this rank
	// (or a crashed run left its record: see DeleteGroup).
	ErrRankTaken = errors.New("collective: rank already joined")
	// ErrGroupExists: rank 0 found a secret of an earlier group of the same
	// name in the key-value store (a run that did not Close; see
	// DeleteGroup).
	ErrGroupExists = errors.New("collective: group already exists")
	// ErrMismatch: the members called different operations, or the same one
	// with different lengths, reduction ops, roots or element types, or
	// joined with different sizes. Detected from each message's header.
	ErrMismatch = errors.New("collective: members disagree on the operation")
	// ErrPeerLost: the connection to a member closed or broke (its process
	// died, or it closed its Comm). The RankError names the rank at the
	// other end of the broken connection: a member that fails makes its
	// neighbours close theirs, so members further along the ring may name a
	// neighbour rather than the member that failed first. In a group that
	// shares memory, every member names the one that died, closed or
	// failed first.
	ErrPeerLost = errors.New("collective: peer lost")
	// ErrTimeout: an operation (or Join) took longer than its timeout
	// (WithOpTimeout, WithJoinTimeout); the RankError names the rank
	// waited on.
	ErrTimeout = errors.New("collective: timed out")
	// ErrAuth: a connection failed the group-secret proof.
	ErrAuth = errors.New("collective: authentication failed")
	// ErrClosed: the Comm was closed.
	ErrClosed = errors.New("collective: communicator closed")
	// ErrBroken: an earlier operation failed (peer lost, timeout,
	// mismatch, cancellation), which leaves the members out of step; the
	// group must be joined again. The error also wraps the first failure.
	ErrBroken = errors.New("collective: communicator broken by an earlier error")
	// ErrUnsupported: the platform is big-endian (the wire format is
	// little-endian raw floats and the byte-swapping path is not built).
	ErrUnsupported = errors.New("collective: unsupported platform")
)

// So that errors.Is matches them when they come back from a rayo task or
// actor call in another process.
func init() {
	for name, err := range map[string]error{
		"ErrInvalidRank": ErrInvalidRank, "ErrInvalidSize": ErrInvalidSize,
		"ErrInvalidOption": ErrInvalidOption, "ErrRankTaken": ErrRankTaken,
		"ErrGroupExists": ErrGroupExists, "ErrMismatch": ErrMismatch,
		"ErrPeerLost": ErrPeerLost, "ErrTimeout": ErrTimeout, "ErrAuth": ErrAuth,
		"ErrClosed": ErrClosed, "ErrBroken": ErrBroken, "ErrUnsupported": ErrUnsupported,
	} {
		rayo.RegisterError("rayo.collective."+name, err)
	}
}

// RankError is a failure that involves one other member: the rank whose
// connection broke (ErrPeerLost), the rank waited on (ErrTimeout), the rank
// whose message disagreed (ErrMismatch), or the rank that failed the proof
// (ErrAuth). errors.Is matches Kind and Cause.
type RankError struct {
	Group string
	Op    string // "join", "allreduce", "broadcast", "allgather", "reducescatter", "barrier"
	Rank  int
	Kind  error // one of the package's sentinels
	Cause error // the underlying error, if any (an I/O error); may be nil
}

func (e *RankError) Error() string {
	s := fmt.Sprintf("%s (group %q, %s, rank %d)", e.Kind, e.Group, e.Op, e.Rank)
	if e.Cause != nil {
		s += ": " + e.Cause.Error()
	}
	return s
}

// Unwrap returns Kind and Cause.
func (e *RankError) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Cause}
}

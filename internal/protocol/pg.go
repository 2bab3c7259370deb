package protocol

import (
	"strconv"
	"strings"

	"github.com/rayo-dev/rayo/internal/sched"
)

// Head methods for placement groups.
const (
	HeadCreatePG = "head.CreatePlacementGroup"
	HeadRemovePG = "head.RemovePlacementGroup"
	HeadGetPG    = "head.GetPlacementGroup"
	HeadListPGs  = "head.ListPlacementGroups"
)

// Node methods for bundles: two-phase reservation driven by the head.
const (
	NodePrepareBundle = "node.PrepareBundle"
	NodeCommitBundle  = "node.CommitBundle"
	NodeReturnBundle  = "node.ReturnBundle"
)

// Placement group states, as Ray names them.
const (
	PGPending      = "PENDING"
	PGCreated      = "CREATED"
	PGRemoved      = "REMOVED"
	PGRescheduling = "RESCHEDULING"
)

type CreatePGRequest struct {
	PGID     string            `msgpack:"id"`
	Name     string            `msgpack:"name,omitempty"`
	Bundles  []sched.Resources `msgpack:"bundles"`
	Strategy sched.PGStrategy  `msgpack:"strategy"`
	JobID    string            `msgpack:"job"`
	Detached bool              `msgpack:"detached,omitempty"`
	// Namespace scopes Name (the job's namespace, as in Ray).
	Namespace string `msgpack:"ns,omitempty"`
}

// BundleState is one bundle and where it is reserved.
type BundleState struct {
	Index     int             `msgpack:"i" json:"index"`
	Resources sched.Resources `msgpack:"res" json:"-"`
	NodeID    string          `msgpack:"node,omitempty" json:"node_id,omitempty"`
}

type PGInfo struct {
	PGID       string           `msgpack:"id"`
	Name       string           `msgpack:"name,omitempty"`
	Strategy   sched.PGStrategy `msgpack:"strategy"`
	State      string           `msgpack:"state"`
	Bundles    []BundleState    `msgpack:"bundles"`
	JobID      string           `msgpack:"job"`
	Detached   bool             `msgpack:"detached,omitempty"`
	Infeasible bool             `msgpack:"inf,omitempty"`
	Version    uint64           `msgpack:"ver"`
	CreatedAt  int64            `msgpack:"created"`
	Namespace  string           `msgpack:"ns,omitempty"`
}

type GetPGRequest struct {
	PGID         string `msgpack:"id"`
	AfterVersion uint64 `msgpack:"after,omitempty"`
}

type RemovePGRequest struct {
	PGID string `msgpack:"id"`
}

type ListPGsReply struct {
	Groups []PGInfo `msgpack:"groups"`
}

// BundleRequest names one bundle of a group on a node.
type BundleRequest struct {
	PGID      string          `msgpack:"id"`
	Index     int             `msgpack:"i"`
	Resources sched.Resources `msgpack:"res,omitempty"`
}

// BundleResourceName is the resource a bundle adds to its node: tasks
// placed in bundle index of group pgID ask for it instead of name;
// index -1 names the group-wide resource (any bundle).
func BundleResourceName(name, pgID string, index int) string {
	if index < 0 {
		return name + "_group_" + pgID
	}
	return name + "_group_" + strconv.Itoa(index) + "_" + pgID
}

// BundleResources is what a task or actor asking for req in bundle index
// of group pgID (-1: any bundle) is scheduled with: each resource under
// its bundle name, and a sliver of the bundle's marker so that even a
// request of nothing lands in the group.
func BundleResources(req map[string]float64, pgID string, index int) map[string]float64 {
	out := map[string]float64{BundleResourceName("bundle", pgID, index): 0.001}
	for name, v := range req {
		if v > 0 {
			out[BundleResourceName(name, pgID, index)] = v
		}
	}
	return out
}

// GroupOfResources returns the placement group a request's resources
// belong to ("" if none), from the bundle marker resource.
func GroupOfResources(res sched.Resources) string {
	for name := range res {
		rest, ok := strings.CutPrefix(name, "bundle_group_")
		if !ok {
			continue
		}
		if i := strings.IndexByte(rest, '_'); i >= 0 {
			return rest[i+1:]
		}
		return rest
	}
	return ""
}

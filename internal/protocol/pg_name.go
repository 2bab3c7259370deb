package protocol

// HeadGetPGByName finds a live placement group by name in a namespace
// (Ray's get_placement_group).
const HeadGetPGByName = "head.GetPlacementGroupByName"

// GetPGByNameRequest names a group in a namespace. A removed group's name
// is free again, so only a group that is not removed is found.
type GetPGByNameRequest struct {
	Name      string `msgpack:"name"`
	Namespace string `msgpack:"ns,omitempty"`
}

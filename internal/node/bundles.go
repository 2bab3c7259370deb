package node

import (
	"context"
	"maps"
	"sort"
	"strconv"
	"strings"

	"github.com/rayo-dev/rayo/internal/gpu"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
	"github.com/rayo-dev/rayo/internal/sched"
)

// Placement-group bundles, reserved in two phases driven by the head:
// Prepare sets the bundle's resources aside (all or nothing across the
// group's nodes), Commit turns them into the bundle's own resources
// (CPU_group_<i>_<pg>, CPU_group_<pg>, ...), which tasks and actors placed
// in the group ask for instead of CPU. Return gives them back and ends
// the work that used them.

type bundle struct {
	req       protocol.BundleRequest
	committed bool
	gpuIDs    []int          // the GPUs the bundle reserved
	gpus      *gpu.Allocator // hands the bundle's GPUs to the leases in it
}

func bundleKey(pgID string, index int) string { return pgID + "/" + strconv.Itoa(index) }

// bundleUnits is the amount of the per-bundle marker resource, which
// lets a task with no other resources be pinned to a bundle.
const bundleUnits = 1000 * sched.Unit

func (n *Node) bundleResources(b protocol.BundleRequest) sched.Resources {
	out := sched.Resources{}
	for name, v := range b.Resources {
		out[protocol.BundleResourceName(name, b.PGID, b.Index)] += v
		out[protocol.BundleResourceName(name, b.PGID, -1)] += v
	}
	out[protocol.BundleResourceName("bundle", b.PGID, b.Index)] += bundleUnits
	out[protocol.BundleResourceName("bundle", b.PGID, -1)] += bundleUnits
	return out
}

func (n *Node) prepareBundle(_ context.Context, req *protocol.BundleRequest) (*protocol.Empty, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	key := bundleKey(req.PGID, req.Index)
	if _, ok := n.bundles[key]; ok {
		return &protocol.Empty{}, nil // a retried prepare
	}
	if !req.Resources.FitsIn(n.available) {
		return nil, rpc.Errorf(protocol.CodeBundleNoRoom, "node: no room for bundle %d of group %s (%s)", req.Index, req.PGID, req.Resources.String())
	}
	b := &bundle{req: *req}
	if g := req.Resources["GPU"]; g > 0 {
		ids, ok := n.gpus.Acquire(float64(g) / sched.Unit)
		if !ok {
			return nil, rpc.Errorf(protocol.CodeBundleNoRoom, "node: the GPUs for bundle %d of group %s are not free", req.Index, req.PGID)
		}
		b.gpuIDs = ids
		b.gpus = gpu.NewAllocator(ids)
	}
	n.available.Sub(req.Resources)
	n.bundles[key] = b
	return &protocol.Empty{}, nil
}

func (n *Node) commitBundle(_ context.Context, req *protocol.BundleRequest) (*protocol.Empty, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	b := n.bundles[bundleKey(req.PGID, req.Index)]
	if b == nil {
		return nil, rpc.Errorf(protocol.CodeBundleUnknown, "node: bundle %d of group %s was not prepared here", req.Index, req.PGID)
	}
	if !b.committed {
		b.committed = true
		res := n.bundleResources(b.req)
		n.total.Add(res)
		n.available.Add(res)
		n.scheduleLocked()
	}
	return &protocol.Empty{}, nil
}

// returnBundle releases a prepared or committed bundle. The workers whose
// leases use its resources are stopped: removing a group ends its tasks
// and actors.
func (n *Node) returnBundle(_ context.Context, req *protocol.BundleRequest) (*protocol.Empty, error) {
	n.mu.Lock()
	key := bundleKey(req.PGID, req.Index)
	b := n.bundles[key]
	if b == nil {
		n.mu.Unlock()
		return &protocol.Empty{}, nil
	}
	delete(n.bundles, key)
	var victims []*worker
	if b.committed {
		marker := protocol.BundleResourceName("bundle", req.PGID, req.Index)
		groupMarker := protocol.BundleResourceName("bundle", req.PGID, -1)
		for _, l := range n.leases {
			if l.resources[marker] > 0 || (l.resources[groupMarker] > 0 && n.onlyBundleLocked(req.PGID, req.Index)) {
				victims = append(victims, l.worker)
				l.worker.dead = true
				n.releaseLocked(l, true)
			}
		}
		res := n.bundleResources(b.req)
		for name, v := range res {
			n.total[name] -= v
			n.available[name] -= v
			if n.total[name] <= 0 {
				delete(n.total, name)
				delete(n.available, name)
			}
		}
	}
	n.available.Add(b.req.Resources)
	if b.gpuIDs != nil {
		n.gpus.Release(b.gpuIDs, float64(b.req.Resources["GPU"])/sched.Unit)
	}
	// Queued requests for the group can never be served here any more.
	for _, r := range n.queue {
		for name := range r.req.Resources {
			if strings.HasSuffix(name, "_"+req.PGID) && !r.req.Resources.FitsIn(n.total) {
				r.infeasible = true
			}
		}
	}
	n.scheduleLocked()
	n.mu.Unlock()
	for _, w := range victims {
		w.kill()
	}
	return &protocol.Empty{}, nil
}

// onlyBundleLocked reports whether the given bundle is the group's last
// one on this node (then group-wide leases here used it).
func (n *Node) onlyBundleLocked(pgID string, index int) bool {
	for k := range n.bundles {
		if strings.HasPrefix(k, pgID+"/") && k != bundleKey(pgID, index) {
			return false
		}
	}
	return true
}

// bundleGPUsLocked gives a lease inside a bundle GPUs from its bundle's
// own allocator (for a group-wide request, from any bundle of the group
// here with room), so that leases sharing a bundle get distinct GPUs. It
// returns the allocator to release them to.
func (n *Node) bundleGPUsLocked(req sched.Resources) ([]int, *gpu.Allocator, float64) {
	for name, v := range req {
		if v <= 0 || !strings.HasPrefix(name, "GPU_group_") {
			continue
		}
		amount := float64(v) / sched.Unit
		rest := strings.TrimPrefix(name, "GPU_group_")
		if i := strings.IndexByte(rest, '_'); i > 0 {
			if idx, err := strconv.Atoi(rest[:i]); err == nil {
				b := n.bundles[bundleKey(rest[i+1:], idx)]
				if b == nil || b.gpus == nil {
					return nil, nil, 0
				}
				if ids, ok := b.gpus.Acquire(amount); ok {
					return ids, b.gpus, amount
				}
				return nil, nil, 0
			}
		}
		keys := make([]string, 0, len(n.bundles))
		for k := range n.bundles {
			if strings.HasPrefix(k, rest+"/") {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			if b := n.bundles[k]; b.gpus != nil {
				if ids, ok := b.gpus.Acquire(amount); ok {
					return ids, b.gpus, amount
				}
			}
		}
	}
	return nil, nil, 0
}

// bundleExtraLocked returns what a lease inside a placement group is
// charged besides its request, so that a bundle's resources are one pool
// whichever way a lease names them: a lease in bundle i also takes the
// group-wide amounts (X_group_<pg>), and a lease in "any bundle" also takes
// the amounts of one bundle here with room (X_group_<i>_<pg>), the lowest
// index first. ok is false when no bundle here has room for a group-wide
// lease. Requests outside groups get nothing extra.
func (n *Node) bundleExtraLocked(req sched.Resources) (extra sched.Resources, ok bool) {
	pg := protocol.GroupOfResources(req)
	if pg == "" {
		return nil, true
	}
	wide := map[string]int64{} // base name -> amount, group-wide
	for name, v := range req {
		rest, found := strings.CutSuffix(name, "_"+pg)
		if !found || v <= 0 {
			continue
		}
		if base, found := strings.CutSuffix(rest, "_group"); found {
			wide[base] += v
			continue
		}
		i := strings.LastIndex(rest, "_group_")
		if i < 0 {
			continue
		}
		base, idx := rest[:i], rest[i+len("_group_"):]
		if _, err := strconv.Atoi(idx); err == nil {
			if extra == nil {
				extra = sched.Resources{}
			}
			extra[protocol.BundleResourceName(base, pg, -1)] += v
		}
	}
	if len(wide) == 0 {
		return extra, true
	}
	keys := make([]string, 0, len(n.bundles))
	for k, b := range n.bundles {
		if b.committed && strings.HasPrefix(k, pg+"/") {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(a, b int) bool { return n.bundles[keys[a]].req.Index < n.bundles[keys[b]].req.Index })
	for _, k := range keys {
		idx := n.bundles[k].req.Index
		cand := sched.Resources{}
		fits := true
		for base, v := range wide {
			name := protocol.BundleResourceName(base, pg, idx)
			if n.available[name] < v {
				fits = false
				break
			}
			cand[name] = v
		}
		if fits {
			maps.Copy(cand, extra)
			return cand, true
		}
	}
	return nil, false
}

// groupUnplaced reports whether req is for a placement group none of whose
// bundles any node in view holds: the group is pending (or removed), so
// the request waits for it rather than being infeasible.
func groupUnplaced(req sched.Resources, view []sched.NodeView) bool {
	pg := protocol.GroupOfResources(req)
	if pg == "" {
		return false
	}
	marker := protocol.BundleResourceName("bundle", pg, -1)
	for _, v := range view {
		if v.Total[marker] > 0 {
			return false
		}
	}
	return true
}

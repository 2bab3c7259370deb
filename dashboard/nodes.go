package dashboard

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
)

// Asking the node daemons: which are alive, calling one, and calling
// each of them in parallel.

// errNodeUnavailable: the node is known but dead or unreachable.
var errNodeUnavailable = errors.New("node unavailable")

// nodeRef is a node the dashboard asks: its ID and address.
type nodeRef struct{ id, addr string }

// liveNodes returns the alive nodes, or the one id names (an ID or a
// unique prefix of one).
func (s *Server) liveNodes(ctx context.Context, id string) ([]nodeRef, error) {
	var st protocol.ClusterStatusReply
	if err := s.call(ctx, protocol.HeadClusterStatus, &protocol.ClusterStatusRequest{}, &st); err != nil {
		return nil, err
	}
	var out []nodeRef
	var matched []*protocol.NodeState
	for i := range st.Nodes {
		n := &st.Nodes[i]
		switch {
		case id == "":
			if n.Alive {
				out = append(out, nodeRef{n.Info.NodeID, n.Info.Addr})
			}
		case n.Info.NodeID == id:
			return nodeIfAlive(n)
		case strings.HasPrefix(n.Info.NodeID, id):
			matched = append(matched, n)
		}
	}
	if id == "" {
		return out, nil
	}
	switch len(matched) {
	case 0:
		return nil, rpc.Errorf(protocol.CodeNodeNotFound, "no node %s", id)
	case 1:
	default:
		ids := make([]string, len(matched))
		for i, n := range matched {
			ids[i] = n.Info.NodeID
		}
		return nil, rpc.Errorf(rpc.CodeBadRequest, "node_id %s is ambiguous: %s", id, strings.Join(ids, ", "))
	}
	return nodeIfAlive(matched[0])
}

func nodeIfAlive(n *protocol.NodeState) ([]nodeRef, error) {
	if !n.Alive {
		return nil, fmt.Errorf("%w: node %s is %s; its log files are in its session directory on its machine", errNodeUnavailable, n.Info.NodeID, n.StateName())
	}
	return []nodeRef{{n.Info.NodeID, n.Info.Addr}}, nil
}

// nodeCall calls a node, telling a node that cannot be reached from an
// error it answered.
func (s *Server) nodeCall(ctx context.Context, n nodeRef, method string, req, resp any) error {
	c, err := s.conns.Get(ctx, n.addr)
	if err == nil {
		err = c.Call(ctx, method, req, resp)
	}
	if err != nil && rpc.CodeOf(err) == "" {
		return fmt.Errorf("%w: node %s at %s: %v", errNodeUnavailable, n.id, n.addr, err)
	}
	return err
}

// eachNode calls fn for every node in parallel and gathers the rows; a
// node whose call fails becomes a warning ("node <id> <what>: <error>").
func (s *Server) eachNode(ctx context.Context, nodes []nodeRef, what string, fn func(ctx context.Context, n nodeRef) ([]Row, error)) ([]Row, []string) {
	got := make([][]Row, len(nodes))
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() { got[i], errs[i] = fn(ctx, n) })
	}
	wg.Wait()
	var rows []Row
	var warnings []string
	for i, n := range nodes {
		if errs[i] != nil {
			warnings = append(warnings, fmt.Sprintf("node %s %s: %v", n.id, what, errs[i]))
			continue
		}
		rows = append(rows, got[i]...)
	}
	sort.Strings(warnings)
	return rows, warnings
}

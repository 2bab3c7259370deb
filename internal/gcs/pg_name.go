package gcs

import (
	"context"

	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
)

// Placement group names are scoped to the creating job's namespace and
// unique among live groups there, as in Ray's GCS (named_placement_groups_
// keyed by namespace); a removed group frees its name. Groups are few, so
// a lookup scans them rather than keeping an index that recovery and
// removal would have to maintain.

// pgByNameLocked returns the live group of that name in ns, or nil.
func (s *Server) pgByNameLocked(name, ns string) *pgEntry {
	for _, g := range s.pgs {
		if g.info.Name == name && g.info.Namespace == ns && g.info.State != protocol.PGRemoved {
			return g
		}
	}
	return nil
}

func (s *Server) getPGByName(_ context.Context, req *protocol.GetPGByNameRequest) (*protocol.PGInfo, error) {
	if req.Name == "" {
		return nil, rpc.Errorf(rpc.CodeBadRequest, "rayo: a placement group lookup needs a name")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.pgByNameLocked(req.Name, req.Namespace)
	if g == nil {
		return nil, rpc.Errorf(protocol.CodePGNotFound, "rayo: no placement group named %q in namespace %q", req.Name, req.Namespace)
	}
	info := g.snapshotLocked()
	return &info, nil
}

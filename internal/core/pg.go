package core

import (
	"context"
	"fmt"

	"github.com/rayo-dev/rayo/internal/errs"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
	"github.com/rayo-dev/rayo/internal/sched"
)

// CreatePlacementGroup asks the head to reserve bundles; it returns at
// once (the head places the group in the background).
func (rt *Runtime) CreatePlacementGroup(ctx context.Context, name string, bundles []sched.Resources, st sched.PGStrategy, detached bool) (string, error) {
	id := rt.nextID()
	var info protocol.PGInfo
	err := rt.callHead(ctx, protocol.HeadCreatePG, &protocol.CreatePGRequest{PGID: id, Name: name, Bundles: bundles,
		Strategy: st, JobID: rt.Job().JobID, Detached: detached, Namespace: rt.Job().Namespace}, &info)
	if err != nil {
		if rpc.CodeOf(err) == rpc.CodeBadRequest {
			return "", fmt.Errorf("%w: %v", errs.ErrInvalidOption, err)
		}
		return "", err
	}
	return id, nil
}

// WaitPlacementGroup waits until the group is created (all bundles
// reserved). A removed group is an error.
func (rt *Runtime) WaitPlacementGroup(ctx context.Context, id string) error {
	var after uint64
	for {
		var info protocol.PGInfo
		if err := rt.callHead(ctx, protocol.HeadGetPG, &protocol.GetPGRequest{PGID: id, AfterVersion: after}, &info); err != nil {
			if ctx.Err() != nil {
				return ctxErr(ctx)
			}
			return pgErr(err)
		}
		switch info.State {
		case protocol.PGCreated:
			return nil
		case protocol.PGRemoved:
			return fmt.Errorf("%w: placement group %s was removed", errs.ErrPlacementGroupRemoved, id)
		}
		after = info.Version
	}
}

// PlacementGroupInfo returns the head's record of a group.
func (rt *Runtime) PlacementGroupInfo(ctx context.Context, id string) (*protocol.PGInfo, error) {
	var info protocol.PGInfo
	if err := rt.callHead(ctx, protocol.HeadGetPG, &protocol.GetPGRequest{PGID: id}, &info); err != nil {
		return nil, pgErr(err)
	}
	return &info, nil
}

// RemovePlacementGroup frees a group; its tasks and actors end.
func (rt *Runtime) RemovePlacementGroup(ctx context.Context, id string) error {
	return pgErr(rt.callHead(ctx, protocol.HeadRemovePG, &protocol.RemovePGRequest{PGID: id}, nil))
}

// ListPlacementGroups returns every placement group the head knows,
// removed ones included (Ray's placement_group_table()).
func (rt *Runtime) ListPlacementGroups(ctx context.Context) ([]protocol.PGInfo, error) {
	var reply protocol.ListPGsReply
	if err := rt.callHead(ctx, protocol.HeadListPGs, &struct{}{}, &reply); err != nil {
		return nil, err
	}
	return reply.Groups, nil
}

package rayo

import (
	"context"

	"github.com/rayo-dev/rayo/internal/protocol"
)

// ActorStateForTest returns an actor's state in the head's directory.
func ActorStateForTest(ctx context.Context, id string) (string, error) {
	rt, err := runtimeOrErr()
	if err != nil {
		return "", err
	}
	info, err := rt.GetActor(ctx, id, "", "")
	if err != nil {
		return "", err
	}
	return info.State, nil
}

// StoreForTest lists the objects in the local node's store.
func StoreForTest(ctx context.Context) (*protocol.ListObjectsReply, error) {
	rt, err := runtimeOrErr()
	if err != nil {
		return nil, err
	}
	return rt.NodeObjects(ctx)
}

// RefCountsForTest reports this process's counts for a reference.
func RefCountsForTest(id string) (local, submitted, contained, borrowers int, ok bool) {
	rt, err := runtimeOrErr()
	if err != nil {
		return
	}
	return rt.RefCounts(id)
}

package core

import (
	"context"
	"fmt"

	"github.com/rayo-dev/rayo/internal/errs"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
)

// PlacementGroupByName finds the live group named name in namespace ns.
// None is ErrPlacementGroupNotFound.
func (rt *Runtime) PlacementGroupByName(ctx context.Context, name, ns string) (*protocol.PGInfo, error) {
	var info protocol.PGInfo
	if err := rt.callHead(ctx, protocol.HeadGetPGByName, &protocol.GetPGByNameRequest{Name: name, Namespace: ns}, &info); err != nil {
		return nil, pgErr(err)
	}
	return &info, nil
}

// pgErr turns the head's not-found code into ErrPlacementGroupNotFound.
func pgErr(err error) error {
	switch rpc.CodeOf(err) {
	case protocol.CodePGNotFound:
		return fmt.Errorf("%w: %v", errs.ErrPlacementGroupNotFound, err)
	case rpc.CodeBadRequest:
		return fmt.Errorf("%w: %v", errs.ErrInvalidOption, err)
	}
	return err
}

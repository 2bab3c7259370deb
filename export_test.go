package rayo

import "context"

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

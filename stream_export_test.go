package rayo

import "context"

// StreamStateForTest reports the owner's counts of a stream: items
// received, items taken by the consumer, and whether its task ended.
func StreamStateForTest(id string) (received, taken int, ended bool) {
	rt, err := runtimeOrErr()
	if err != nil {
		return 0, 0, false
	}
	return rt.StreamState(id)
}

// WaitStreamForTest waits until cond holds for a stream's counts.
func WaitStreamForTest(ctx context.Context, id string, cond func(received, taken int, ended bool) bool) error {
	rt, err := runtimeOrErr()
	if err != nil {
		return err
	}
	return rt.WaitStreamState(ctx, id, cond)
}

package pybridge

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/rayo-dev/rayo/internal/core"
	"github.com/rayo-dev/rayo/internal/errs"
	"github.com/rayo-dev/rayo/internal/rpc"
)

// ServeDriver serves a Python driver on its ends of their socket pairs,
// fds as RAYO_BRIDGE_FD gives them ("READ,WRITE"), whose hello must
// prove token, until the driver goes away (exits, crashes or closes the
// pairs). connect joins the cluster (rayo.Init); calls made meanwhile
// wait for it, and fail with its error.
func ServeDriver(fds, token string, log *slog.Logger, connect func() error) error {
	r, w, err := parseBridgeFDs(fds)
	if err != nil {
		return fmt.Errorf("rayo: python bridge: %w", err)
	}
	nc, err := newBridgeConn(r, w)
	if err != nil {
		return err
	}
	s := rpc.NewServer(token, log)
	connected := make(chan struct{})
	var connectErr error
	now := func() (*core.Runtime, error) {
		select {
		case <-connected:
		default:
			return nil, fmt.Errorf("%w: the bridge is still connecting (call py.info first)", errs.ErrNotInitialized)
		}
		if connectErr != nil {
			return nil, connectErr
		}
		return runtimeOf()
	}
	registerOps(s, func(ctx context.Context) (*core.Runtime, error) {
		select {
		case <-connected:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return now()
	}, now)
	l := listenOn(nc)
	go func() { _ = s.Serve(l) }()
	connectErr = connect()
	close(connected)
	<-l.ended
	s.Close()
	return connectErr
}

package core

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/rayo-dev/rayo/internal/errs"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
)

// DefaultHeadWait is how long a call that needs the head waits for a head
// that is down or restarting before it fails with ErrHeadUnavailable.
const DefaultHeadWait = 60 * time.Second

// headClient returns the runtime's connection to the head, dialing when
// there is none or the last one closed.
func (rt *Runtime) headClient(ctx context.Context) (*rpc.Client, error) {
	rt.headMu.Lock()
	defer rt.headMu.Unlock()
	if rt.head != nil {
		select {
		case <-rt.head.Done():
		default:
			return rt.head, nil
		}
	}
	select {
	case <-rt.closed:
		return nil, errs.ErrShutdown
	default:
	}
	if rt.job.Load().HeadAddr == "" {
		return nil, errors.New("core: this runtime does not know the head's address")
	}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := rpc.Dial(dctx, rt.job.Load().HeadAddr, rt.cfg.Token, rpc.WithTLS(rt.cfg.TLS))
	if err != nil {
		return nil, err
	}
	rt.head = c
	return c, nil
}

// headDown reports whether err says the head is unreachable (as opposed
// to an answer from it).
func headDown(err error) bool {
	if err == nil || rpc.CodeOf(err) == protocol.CodeHeadStopping {
		return err != nil
	}
	if rpc.CodeOf(err) != "" {
		return false
	}
	var ne net.Error
	return errors.Is(err, rpc.ErrClosed) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.As(err, &ne)
}

// callHead calls the head. While the head is unreachable (it died and is
// being restarted) the call waits for it, up to HeadWait, then fails with
// ErrHeadUnavailable; calls that need no head (tasks, actor calls,
// objects) never come here and go on meanwhile. Every head method a
// runtime calls is safe to repeat (creations carry the caller's IDs).
func (rt *Runtime) callHead(ctx context.Context, method string, req, resp any) error {
	var deadline time.Time
	backoff := 20 * time.Millisecond
	for {
		head, err := rt.headClient(ctx)
		if err == nil {
			err = head.Call(ctx, method, req, resp)
		}
		if !headDown(err) || ctx.Err() != nil {
			if err != nil && ctx.Err() != nil {
				return ctxErr(ctx)
			}
			return err
		}
		now := time.Now()
		if deadline.IsZero() {
			deadline = now.Add(rt.cfg.HeadWait)
			rt.log.Warn("the head is unreachable; waiting for it", "call", method, "err", err, "for_at_most", rt.cfg.HeadWait)
		}
		if now.After(deadline) {
			return fmt.Errorf("%w: %s waited %v: %v", errs.ErrHeadUnavailable, method, rt.cfg.HeadWait, err)
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return ctxErr(ctx)
		case <-rt.closed:
			return errs.ErrShutdown
		}
		backoff = min(backoff*2, 500*time.Millisecond)
	}
}

// RegisterJob registers the driver's job with the head and keeps it
// attached: the job lives as long as the driver's connection to the head,
// and when the head restarts the driver attaches again.
func (rt *Runtime) RegisterJob(ctx context.Context, req *protocol.RegisterJobRequest) (string, error) {
	head, err := rt.headClient(ctx)
	if err != nil {
		return "", err
	}
	var reply protocol.RegisterJobReply
	if err := head.Call(ctx, protocol.HeadRegisterJob, req, &reply); err != nil {
		return "", err
	}
	attach := *req
	attach.ReattachJobID = reply.JobID
	rt.wg.Add(1)
	go func() { defer rt.wg.Done(); rt.keepJobAttached(head, &attach) }()
	return reply.JobID, nil
}

// keepJobAttached waits for the head connection the job is attached to
// to close, then attaches the job again on a new one, for as long as the
// runtime lives.
func (rt *Runtime) keepJobAttached(head *rpc.Client, req *protocol.RegisterJobRequest) {
	for {
		select {
		case <-head.Done():
		case <-rt.closed:
			return
		}
		backoff := 20 * time.Millisecond
		for {
			select {
			case <-rt.closed:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			c, err := rt.headClient(ctx)
			if err == nil {
				err = c.Call(ctx, protocol.HeadRegisterJob, req, nil)
			}
			cancel()
			if err == nil {
				rt.log.Info("attached to the job again after the head's connection closed", "job", req.ReattachJobID)
				head = c
				break
			}
			if !headDown(err) {
				rt.log.Error("the head no longer knows this job; its workers will stop", "job", req.ReattachJobID, "err", err)
				return
			}
			select {
			case <-time.After(backoff):
			case <-rt.closed:
				return
			}
			backoff = min(backoff*2, 500*time.Millisecond)
		}
	}
}

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
// there is none or the last one closed. One dial at a time, made outside
// headMu (callers wait for it under their own ctx), so that neither other
// callers nor Close wait on a lock while a head that is down times out.
func (rt *Runtime) headClient(ctx context.Context) (*rpc.Client, error) {
	rt.headMu.Lock()
	if rt.head != nil {
		select {
		case <-rt.head.Done():
		default:
			c := rt.head
			rt.headMu.Unlock()
			return c, nil
		}
	}
	select {
	case <-rt.closed:
		rt.headMu.Unlock()
		return nil, errs.ErrShutdown
	default:
	}
	addr := rt.job.Load().HeadAddr
	if addr == "" {
		rt.headMu.Unlock()
		return nil, errors.New("core: this runtime does not know the head's address")
	}
	d := rt.headDialing
	if d == nil {
		d = &headDial{done: make(chan struct{})}
		rt.headDialing = d
		rt.wg.Add(1) // under headMu, closed not yet: before Close's Wait
		go rt.dialHead(d, addr)
	}
	rt.headMu.Unlock()
	select {
	case <-d.done:
		return d.c, d.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// headDial is a dial to the head in progress; done closes when c or err
// is set.
type headDial struct {
	done chan struct{}
	c    *rpc.Client
	err  error
}

// dialHead makes the dial d stands for and installs its connection.
func (rt *Runtime) dialHead(d *headDial, addr string) {
	defer rt.wg.Done()
	ctx, cancel := context.WithTimeout(rt.ctx, 5*time.Second)
	c, err := rpc.Dial(ctx, addr, rt.cfg.Token, rpc.WithTLS(rt.cfg.TLS))
	cancel()
	rt.headMu.Lock()
	rt.headDialing = nil
	late := false
	if err == nil {
		select {
		case <-rt.closed:
			late, err = true, errs.ErrShutdown // Close ran meanwhile
		default:
			rt.head = c
		}
	}
	rt.headMu.Unlock()
	if late {
		_ = c.Close()
		c = nil
	}
	d.c, d.err = c, err
	close(d.done)
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
	// A call made with a context already done fails as such, whether or
	// not the reply would have raced the cancellation.
	if ctx.Err() != nil {
		return ctxErr(ctx)
	}
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

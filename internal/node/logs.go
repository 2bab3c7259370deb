package node

import (
	"context"
	"sync"
	"time"

	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
)

// logForwarder batches a job's worker output and sends it to the job's
// driver, which prints it with a (task pid=N node=X) prefix. Delivery is
// best effort: the worker's log file has every line.
type logForwarder struct {
	n    *Node
	spec protocol.JobSpec

	mu     sync.Mutex
	lines  []protocol.LogLine
	tasks  map[int]string
	wake   chan struct{}
	closed bool
	once   sync.Once
}

// maxBufferedLines bounds memory when the driver cannot keep up.
const maxBufferedLines = 10000

func newLogForwarder(n *Node, spec *protocol.JobSpec) *logForwarder {
	return &logForwarder{n: n, spec: *spec, tasks: map[int]string{}, wake: make(chan struct{}, 1)}
}

func (f *logForwarder) setTask(pid int, task string) {
	f.mu.Lock()
	f.tasks[pid] = task
	f.mu.Unlock()
}

func (f *logForwarder) add(l protocol.LogLine) {
	if f.spec.DriverAddr == "" {
		return
	}
	f.mu.Lock()
	if f.closed || len(f.lines) >= maxBufferedLines {
		f.mu.Unlock()
		return
	}
	l.Task = f.tasks[l.Pid]
	f.lines = append(f.lines, l)
	f.mu.Unlock()
	f.once.Do(func() {
		f.n.wg.Add(1)
		go func() { defer f.n.wg.Done(); f.run() }()
	})
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *logForwarder) close() {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *logForwarder) run() {
	var c *rpc.Client
	defer func() {
		if c != nil {
			_ = c.Close()
		}
	}()
	for {
		select {
		case <-f.n.stop:
			return
		case <-f.wake:
		}
		// Let a burst of output gather into one batch.
		time.Sleep(5 * time.Millisecond)
		f.mu.Lock()
		lines, closed := f.lines, f.closed
		f.lines = nil
		f.mu.Unlock()
		if len(lines) > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if c == nil {
				c, _ = rpc.Dial(ctx, f.spec.DriverAddr, f.n.cfg.Token, rpc.WithTLS(f.n.cfg.TLS))
			}
			if c != nil {
				if err := c.Call(ctx, protocol.DriverLogs, &protocol.LogBatch{NodeID: f.n.cfg.NodeID, Lines: lines}, nil); err != nil {
					_ = c.Close()
					c = nil
				}
			}
			cancel()
		}
		if closed {
			return
		}
	}
}

package rpc

import (
	"context"
	"sync"
)

// Pool shares one connection per address among a process's callers,
// dialing again when a connection is gone. It is safe for concurrent use.
type Pool struct {
	token string
	opts  []Option

	mu      sync.Mutex
	clients map[string]*Client
	closed  bool
}

// NewPool returns a pool whose connections present token (and opts, as
// Dial's).
func NewPool(token string, opts ...Option) *Pool {
	return &Pool{token: token, opts: opts, clients: map[string]*Client{}}
}

func live(c *Client) bool {
	if c == nil {
		return false
	}
	select {
	case <-c.Done():
		return false
	default:
		return true
	}
}

// Get returns the live connection to addr, dialing one if needed.
func (p *Pool) Get(ctx context.Context, addr string) (*Client, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	c := p.clients[addr]
	p.mu.Unlock()
	if live(c) {
		return c, nil
	}
	nc, err := Dial(ctx, addr, p.token, p.opts...)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if cur := p.clients[addr]; live(cur) {
		// Another caller dialed meanwhile: keep one connection.
		_ = nc.Close()
		return cur, nil
	}
	if p.closed {
		_ = nc.Close()
		return nil, ErrClosed
	}
	p.clients[addr] = nc
	return nc, nil
}

// Close closes every connection; later Gets fail with ErrClosed.
func (p *Pool) Close() {
	p.mu.Lock()
	cs := p.clients
	p.clients, p.closed = map[string]*Client{}, true
	p.mu.Unlock()
	for _, c := range cs {
		_ = c.Close()
	}
}

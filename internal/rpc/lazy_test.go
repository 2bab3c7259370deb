package rpc

import (
	"context"
	"io"
	"net"
	"testing"
	"time"
)

// A lazy frame leaves with the next frame, in one write.
func TestLazyFrameGoesWithTheNext(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c := newConn(a)
	c.lazyDelay = time.Hour // only the next frame may carry it
	if err := c.sendLazy(&frame{Type: frameResponse, ID: 1, Body: []byte{0xc0}}, nil); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.send(&frame{Type: frameResponse, ID: 2, Body: []byte{0xc0}}) }()
	// net.Pipe hands one Write to one Read when the buffer is large enough.
	buf := make([]byte, 4096)
	n, err := b.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	peer := newConn(&replayConn{Conn: b, data: buf[:n]})
	for _, want := range []uint64{1, 2} {
		f, err := peer.recv()
		if err != nil {
			t.Fatalf("frame %d: %v (one write of %d bytes)", want, err, n)
		}
		if f.ID != want {
			t.Fatalf("frame ID %d, want %d", f.ID, want)
		}
	}
}

// replayConn reads data, then EOF.
type replayConn struct {
	net.Conn
	data []byte
}

func (r *replayConn) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// A lazy reply arrives with nothing after it (the timer sends it) and
// beside other calls on the connection.
func TestLazyReplyArrives(t *testing.T) {
	s, addr := startServer(t, "tok", nil)
	s.HandleOrdered("ack", func(_ context.Context, _ []byte, reply func(any, error)) func() {
		reply(Lazy{Reply: &echoResp{Text: "acked"}}, nil)
		return nil
	})
	c, err := Dial(context.Background(), addr, "tok")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	var got echoResp
	if err := c.Call(ctx, "ack", &echoReq{}, &got); err != nil || got.Text != "acked" {
		t.Fatalf("a lazy reply alone: %+v, %v", got, err)
	}
	acked := make(chan error, 1)
	go func() {
		var r echoResp
		err := c.Call(ctx, "ack", &echoReq{}, &r)
		if err == nil && r.Text != "acked" {
			err = io.ErrUnexpectedEOF
		}
		acked <- err
	}()
	if err := c.Call(ctx, "echo", &echoReq{Text: "next"}, &got); err != nil || got.Text != "next" {
		t.Fatalf("the call after a lazy reply: %+v, %v", got, err)
	}
	if err := <-acked; err != nil {
		t.Fatalf("a lazy reply before another: %v", err)
	}
}

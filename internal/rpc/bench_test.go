package rpc

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
)

// benchPair starts a server set up by register and returns a client
// connected to it; both stop when the benchmark ends.
func benchPair(b *testing.B, register func(*Server)) *Client {
	s := NewServer("tok", slog.New(slog.NewTextHandler(io.Discard, nil)))
	register(s)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = s.Serve(ln) }()
	b.Cleanup(s.Close)
	c, err := Dial(context.Background(), ln.Addr().String(), "tok")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	return c
}

// goRoundTrips runs b.N calls through Client.Go, one at a time.
func goRoundTrips(b *testing.B, c *Client) {
	body, _ := Marshal(&echoReq{Text: "ok"})
	done := make(chan struct{}, 1)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.Go("echo", body, func([]byte, error) { done <- struct{}{} })
		<-done
	}
}

// BenchmarkCallRoundTrip: one call and its reply on one connection, the
// transport's share of every task push and actor call.
func BenchmarkCallRoundTrip(b *testing.B) {
	c := benchPair(b, func(s *Server) {
		Register(s, "echo", func(_ context.Context, r *echoReq) (*echoResp, error) { return &echoResp{Text: r.Text}, nil })
	})
	callRoundTrips(b, c)
}

// callRoundTrips runs b.N echo calls through Client.Call, one at a time.
func callRoundTrips(b *testing.B, c *Client) {
	ctx := context.Background()
	req := &echoReq{Text: "ok"}
	var resp echoResp
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := c.Call(ctx, "echo", req, &resp); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOrderedCallRoundTrip: the same through an ordered handler
// answered from another goroutine.
func BenchmarkOrderedCallRoundTrip(b *testing.B) {
	work := make(chan func(), 16)
	go func() {
		for f := range work {
			f()
		}
	}()
	b.Cleanup(func() { close(work) })
	c := benchPair(b, func(s *Server) {
		s.HandleOrdered("echo", func(_ context.Context, body []byte, reply func(any, error)) func() {
			work <- func() { reply(&echoResp{Text: "ok"}, nil) }
			return nil
		})
	})
	goRoundTrips(b, c)
}

// BenchmarkOrderedInlineRoundTrip: an ordered handler that runs its work
// at once on the reading goroutine, as an idle actor does.
func BenchmarkOrderedInlineRoundTrip(b *testing.B) {
	c := benchPair(b, func(s *Server) {
		s.HandleOrdered("echo", func(_ context.Context, body []byte, reply func(any, error)) func() {
			return func() { reply(&echoResp{Text: "ok"}, nil) }
		})
	})
	goRoundTrips(b, c)
}

// BenchmarkFrameEncode: a request frame with a small body, as every task
// push and actor call sends.
func BenchmarkFrameEncode(b *testing.B) {
	f := &frame{Type: frameRequest, ID: 42, Method: "core.ActorCall"}
	req := &echoReq{Text: "a small argument"}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		var err error
		if buf, err = appendFrame(buf[:0], f, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFrameDecode: the same frame parsed.
func BenchmarkFrameDecode(b *testing.B) {
	buf, err := appendFrame(nil, &frame{Type: frameRequest, ID: 42, Method: "core.ActorCall"}, &echoReq{Text: "a small argument"})
	if err != nil {
		b.Fatal(err)
	}
	c := &conn{}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := c.parseFrame(buf[4:]); err != nil {
			b.Fatal(err)
		}
	}
}

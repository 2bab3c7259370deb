package rpc

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
)

// BenchmarkCallRoundTripTCP and BenchmarkCallRoundTripTLS: one sync call
// over TCP (no Unix socket), plain and with mutual TLS, the transport's
// share of a sync actor call between machines. The handshake is outside
// the timing: connections are persistent.
func BenchmarkCallRoundTripTCP(b *testing.B) { benchTLSRoundTrip(b, false) }
func BenchmarkCallRoundTripTLS(b *testing.B) { benchTLSRoundTrip(b, true) }

func benchTLSRoundTrip(b *testing.B, withTLS bool) {
	callRoundTrips(b, benchTLSPair(b, withTLS))
}

// benchTLSPair serves echo over TCP, with mutual TLS when withTLS, and
// returns a client dialed to it.
func benchTLSPair(b *testing.B, withTLS bool) *Client {
	var sopts, opts []Option
	if withTLS {
		ca := testCA(b)
		sopts = append(sopts, WithTLS(testIdentity(b, ca)))
		opts = append(opts, WithTLS(testIdentity(b, ca)))
	}
	s := NewServer("tok", slog.New(slog.NewTextHandler(io.Discard, nil)), sopts...)
	Register(s, "echo", func(_ context.Context, r *echoReq) (*echoResp, error) { return &echoResp{Text: r.Text}, nil })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = s.Serve(ln) }()
	b.Cleanup(s.Close)
	c, err := Dial(context.Background(), ln.Addr().String(), "tok", opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	return c
}

// BenchmarkBulkTLS and BenchmarkBulkTCP: 4 MiB calls, the size of an
// object pull's chunk: what TLS costs in bandwidth (b.SetBytes).
func BenchmarkBulkTCP(b *testing.B) { benchBulk(b, false) }
func BenchmarkBulkTLS(b *testing.B) { benchBulk(b, true) }

type bulkReq struct{ Data []byte }

func benchBulk(b *testing.B, withTLS bool) {
	c := benchTLSPair(b, withTLS)
	req := &bulkReq{Data: make([]byte, 4<<20)}
	ctx := context.Background()
	b.SetBytes(int64(len(req.Data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := c.Call(ctx, "echo", req, nil); err != nil {
			b.Fatal(err)
		}
	}
}

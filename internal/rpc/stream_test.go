package rpc

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
)

// startStreamServer serves "upper" (accepts, then echoes bytes upper-cased
// until the client hangs up), "refuse" (refuses before accepting) and
// "echo" (a plain call).
func startStreamServer(t *testing.T, id *TLS) string {
	t.Helper()
	var opts []Option
	if id != nil {
		opts = append(opts, WithTLS(id))
	}
	s := NewServer("tok", slog.New(slog.NewTextHandler(io.Discard, nil)), opts...)
	Register(s, "echo", func(_ context.Context, r *echoReq) (*echoResp, error) { return &echoResp{Text: r.Text}, nil })
	s.HandleStream("upper", func(_ context.Context, body []byte, st *Stream) error {
		var req echoReq
		if err := Unmarshal(body, &req); err != nil {
			return err
		}
		if err := st.Accept(&echoResp{Text: "ready:" + req.Text}); err != nil {
			return err
		}
		buf := make([]byte, 64)
		for {
			n, err := st.Read(buf)
			if n > 0 {
				if _, werr := st.Write(bytes.ToUpper(buf[:n])); werr != nil {
					return werr
				}
			}
			if err != nil {
				return nil
			}
		}
	})
	s.HandleStream("refuse", func(context.Context, []byte, *Stream) error {
		return Errorf("custom", "refused on purpose")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Serve(ln) }()
	t.Cleanup(func() { s.Close(); <-done })
	return ln.Addr().String()
}

func TestStreamCarriesRawBytes(t *testing.T) {
	addr := startStreamServer(t, nil)
	var resp echoResp
	nc, err := DialStream(context.Background(), addr, "tok", "upper", &echoReq{Text: "x"}, &resp)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if resp.Text != "ready:x" {
		t.Fatalf("accept reply %q", resp.Text)
	}
	if _, err := nc.Write([]byte("hello stream")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len("hello stream"))
	if _, err := io.ReadFull(nc, got); err != nil {
		t.Fatal(err)
	}
	if string(got) != "HELLO STREAM" {
		t.Fatalf("got %q", got)
	}
}

func TestStreamRefusals(t *testing.T) {
	addr := startStreamServer(t, nil)
	ctx := context.Background()
	_, err := DialStream(ctx, addr, "tok", "refuse", &echoReq{}, nil)
	if CodeOf(err) != "custom" || !strings.Contains(err.Error(), "refused on purpose") {
		t.Errorf("refused stream: %v (code %q)", err, CodeOf(err))
	}
	if _, err := DialStream(ctx, addr, "tok", "nope", &echoReq{}, nil); !errors.Is(err, ErrUnknownMethod) && !strings.Contains(err.Error(), "unknown method") {
		t.Errorf("unknown stream: %v", err)
	}
	if _, err := DialStream(ctx, addr, "wrong-token", "upper", &echoReq{}, nil); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("wrong token: %v", err)
	}
	// A stream asked for on a connection that already carried a call is
	// refused, and the connection goes on serving calls.
	c, err := Dial(ctx, addr, "tok")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var resp echoResp
	if err := c.Call(ctx, "echo", &echoReq{Text: "a"}, &resp); err != nil {
		t.Fatal(err)
	}
	if err := c.Call(ctx, "upper", &echoReq{}, &resp); err == nil || !strings.Contains(err.Error(), "first request") {
		t.Errorf("stream on a used connection: %v", err)
	}
	if err := c.Call(ctx, "echo", &echoReq{Text: "b"}, &resp); err != nil || resp.Text != "b" {
		t.Errorf("call after the refused stream: %q, %v", resp.Text, err)
	}
}

// A stream runs inside TLS like any connection: nothing of it is
// readable on the path.
func TestStreamIsEncryptedUnderTLS(t *testing.T) {
	const marker = "stream-marker-5e1d-visible-on-the-path"
	ca := testCA(t)
	addr := startStreamServer(t, testIdentity(t, ca))
	r := startRelay(t, addr)
	nc, err := DialStream(context.Background(), r.addr(), "tok", "upper", &echoReq{}, nil, WithTLS(testIdentity(t, ca)))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Write([]byte(marker)); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(marker))
	if _, err := io.ReadFull(nc, got); err != nil {
		t.Fatal(err)
	}
	if string(got) != strings.ToUpper(marker) {
		t.Fatalf("got %q", got)
	}
	if rec := r.recorded(); bytes.Contains(rec, []byte(marker)) || bytes.Contains(rec, []byte(strings.ToUpper(marker))) {
		t.Fatal("the stream's bytes are readable on the path")
	}
}

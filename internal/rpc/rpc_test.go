package rpc

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"go.uber.org/goleak"
)

// Every goroutine a test starts (readers, handlers, servers) must be gone
// when the tests end.
func TestMain(m *testing.M) {
	if p := os.Getenv(dialChildEnv); p != "" {
		dialChild(p) // a peer in another process for the spin tests
		return
	}
	if p := os.Getenv(peerListenEnv); p != "" {
		peerListenChild(p) // a listener of another user
		return
	}
	if os.Getenv(floodServerEnv) != "" {
		floodServerChild() // a server short of descriptors
		return
	}
	goleak.VerifyTestMain(m)
}

type echoReq struct{ Text string }
type echoResp struct{ Text string }

func startServer(t *testing.T, token string, logBuf io.Writer) (*Server, string) {
	t.Helper()
	if logBuf == nil {
		logBuf = io.Discard
	}
	s := NewServer(token, slog.New(slog.NewTextHandler(logBuf, nil)))
	Register(s, "echo", func(_ context.Context, r *echoReq) (*echoResp, error) {
		if r.Text == "fail" {
			return nil, Errorf("custom", "failed on purpose")
		}
		if r.Text == "panic" {
			panic("handler bug")
		}
		return &echoResp{Text: r.Text}, nil
	})
	Register(s, "block", func(ctx context.Context, _ *echoReq) (*echoResp, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(s.Close)
	return s, ln.Addr().String()
}

func TestCallsAndErrors(t *testing.T) {
	_, addr := startServer(t, "tok", nil)
	ctx := context.Background()
	c, err := Dial(ctx, addr, "tok")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var r echoResp
			if err := c.Call(ctx, "echo", &echoReq{Text: "hi"}, &r); err != nil || r.Text != "hi" {
				t.Errorf("echo: %q %v", r.Text, err)
			}
		}()
	}
	wg.Wait()
	err = c.Call(ctx, "echo", &echoReq{Text: "fail"}, nil)
	if CodeOf(err) != "custom" || err.Error() != "failed on purpose" {
		t.Fatalf("custom error: %v", err)
	}
	if err := c.Call(ctx, "nope", &echoReq{}, nil); !errors.Is(err, ErrUnknownMethod) {
		t.Fatalf("unknown method: %v", err)
	}
	if err := c.Call(ctx, "echo", "not a struct", nil); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("malformed body: %v", err)
	}
	if err := c.Call(ctx, "echo", &echoReq{Text: "panic"}, nil); CodeOf(err) != CodeInternal {
		t.Fatalf("panicking handler: %v", err)
	}
	// The server survived the panic.
	if err := c.Call(ctx, "echo", &echoReq{Text: "ok"}, nil); err != nil {
		t.Fatal(err)
	}
}

func TestTokenRequired(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	_, addr := startServer(t, "right", writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}))
	for _, tok := range []string{"", "wrong", "righ", "right2"} {
		_, err := Dial(context.Background(), addr, tok)
		if !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("token %q: %v, want ErrUnauthenticated", tok, err)
		}
	}
	// A raw connection that never says hello, or sends garbage, is refused
	// too, and the refusals are logged.
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = nc.Write([]byte{0, 0, 0, 3, 1, 2, 3})
	_, _ = io.ReadAll(nc)
	_ = nc.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := strings.Count(logs.String(), "refused connection")
		mu.Unlock()
		if n >= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("refusals logged: %d, want 5", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestPeerCloseFailsCallsAndRunsHooks(t *testing.T) {
	s, addr := startServer(t, "tok", nil)
	closed := make(chan struct{})
	Register(s, "hook", func(ctx context.Context, _ *echoReq) (*echoResp, error) {
		PeerFrom(ctx).OnClose(func() { close(closed) })
		return &echoResp{}, nil
	})
	c, err := Dial(context.Background(), addr, "tok")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Call(context.Background(), "hook", &echoReq{}, nil); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- c.Call(context.Background(), "block", &echoReq{}, nil) }()
	s.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("call on a closed server: %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("call did not fail when the server closed")
	}
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("OnClose hook did not run")
	}
	if err := c.Call(context.Background(), "echo", &echoReq{}, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("call after close: %v", err)
	}
}

func TestCallContextCancel(t *testing.T) {
	_, addr := startServer(t, "tok", nil)
	c, err := Dial(context.Background(), addr, "tok")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := c.Call(ctx, "block", &echoReq{}, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("deadline: %v", err)
	}
}

// A client dialing a local TCP address reaches the server over its Unix
// socket, and the token is still required there.
func TestUnixSocket(t *testing.T) {
	s, addr := startServer(t, "tok", nil)
	s.ListenUnix(addr)
	p := UnixPath(addr)
	if p == "" {
		t.Fatal("no Unix path for a loopback address")
	}
	c, err := Dial(context.Background(), addr, "tok")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.c.nc.RemoteAddr().Network() != "unix" {
		t.Fatalf("dialed over %s, want unix", c.c.nc.RemoteAddr().Network())
	}
	var r echoResp
	if err := c.Call(context.Background(), "echo", &echoReq{Text: "u"}, &r); err != nil || r.Text != "u" {
		t.Fatalf("call over the socket: %q %v", r.Text, err)
	}
	if _, err := Dial(context.Background(), addr, "wrong"); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("wrong token over the socket: %v", err)
	}
	if UnixPath("10.255.255.1:80") != "" {
		t.Fatal("a Unix path for an address that is not this machine's")
	}
	s.Close()
	if _, err := os.Stat(p); err == nil {
		t.Fatal("the socket file outlived Close")
	}
}

// Before the token is checked, a peer can make the server read no more
// than a small hello: a large length prefix closes the connection.
func TestUnauthenticatedFramesAreSmall(t *testing.T) {
	_, addr := startServer(t, "tok", io.Discard)
	for _, n := range []uint32{maxHelloFrame + 1, maxFrame} {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		var hdr [4]byte
		binary.BigEndian.PutUint32(hdr[:], n)
		if _, err := nc.Write(hdr[:]); err != nil {
			t.Fatal(err)
		}
		_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := nc.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("a hello frame of %d bytes: the server kept the connection open (%v)", n, err)
		}
		nc.Close()
	}
}

// A binary of protocol version 2 (a msgpack envelope) is told the versions
// differ, in a frame it can read, instead of seeing the connection close.
func TestOlderProtocolGetsAVersionError(t *testing.T) {
	_, addr := startServer(t, "tok", io.Discard)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	body, _ := msgpack.Marshal([]any{frameHello, 0, "", map[string]any{"v": 2, "t": "tok"}, nil})
	if _, err := nc.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)); err != nil {
		t.Fatal(err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	var hdr [4]byte
	if _, err := io.ReadFull(nc, hdr[:]); err != nil {
		t.Fatalf("no answer to an old hello: %v", err)
	}
	ack := make([]byte, binary.BigEndian.Uint32(hdr[:]))
	if _, err := io.ReadFull(nc, ack); err != nil {
		t.Fatal(err)
	}
	var old struct {
		_msgpack struct{} `msgpack:",as_array"`
		Type     uint8
		ID       uint64
		Method   string
		Body     msgpack.RawMessage
		Err      *Error
	}
	if err := msgpack.Unmarshal(ack, &old); err != nil {
		t.Fatalf("the answer is not an old-style frame: %v", err)
	}
	if old.Type != frameHelloAck || old.Err == nil || !strings.Contains(old.Err.Message, "protocol version") {
		t.Fatalf("answer %+v, want a hello ack with a protocol version error", old)
	}
}

// Frames that lie about their header are refused, not trusted.
func TestMalformedFrames(t *testing.T) {
	c := &conn{}
	for name, buf := range map[string][]byte{
		"short header":      {frameRequest, 0, 0},
		"method too long":   {frameRequest, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 'x'},
		"error not msgpack": {frameResponse, flagError, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0xc1},
	} {
		if _, err := c.parseFrame(buf); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
	f, err := c.parseFrame(append([]byte{frameRequest, 0, 0, 0, 0, 0, 0, 0, 0, 7, 0, 4}, "echo\xc0"...))
	if err != nil || f.ID != 7 || f.Method != "echo" || string(f.Body) != "\xc0" {
		t.Fatalf("a good frame: %+v %v", f, err)
	}
}

// A request that cannot be encoded fails that call only: nothing was
// sent, and the connection goes on serving.
func TestUnencodableRequestLeavesTheConnection(t *testing.T) {
	_, addr := startServer(t, "tok", nil)
	c, err := Dial(context.Background(), addr, "tok")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if err := c.Call(ctx, "echo", make(chan int), nil); err == nil || !strings.Contains(err.Error(), "echo") {
		t.Fatalf("an unencodable request: %v", err)
	}
	if err := c.Call(ctx, strings.Repeat("m", 70000), &echoReq{}, nil); err == nil {
		t.Fatal("a method name longer than a frame header holds was sent")
	}
	var r echoResp
	if err := c.Call(ctx, "echo", &echoReq{Text: "still"}, &r); err != nil || r.Text != "still" {
		t.Fatalf("the call after: %q %v", r.Text, err)
	}
}

// A peer that closes the connection at the hello (a binary of another
// protocol version, or not a rayo port) is named as such.
func TestHelloToAPeerThatHangsUp(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		nc, err := ln.Accept()
		if err == nil {
			_, _ = nc.Read(make([]byte, 64))
			nc.Close()
		}
	}()
	_, err = Dial(context.Background(), ln.Addr().String(), "tok")
	if !errors.Is(err, ErrClosed) || !strings.Contains(err.Error(), "protocol version") {
		t.Fatalf("dialing a peer that hangs up: %v", err)
	}
}

package rpc

import (
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// A peer that vanishes without closing its connections (its machine
// lost power, its link went down) must not leave calls to it waiting for
// TCP's own give-up, which is about 15 minutes while a request is
// unacknowledged and forever for an idle connection awaiting a reply. So
// every TCP connection probes an idle peer (keepalive: after 15 s, then
// every 5 s, dead after 4 unanswered probes) and drops one that leaves
// sent data unacknowledged for a minute (TCP_USER_TIMEOUT). Calls on it
// then fail with ErrClosed, and their callers retry elsewhere as for a
// peer that died. A live peer answers probes however busy it is.
const (
	keepAliveIdle     = 15 * time.Second
	keepAliveInterval = 5 * time.Second
	keepAliveCount    = 4
	userTimeout       = time.Minute
)

// tuneTCP applies the above to a TCP connection (others are left alone).
func tuneTCP(nc net.Conn) {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return
	}
	_ = tc.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: keepAliveIdle, Interval: keepAliveInterval, Count: keepAliveCount})
	if rc, err := tc.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(userTimeout/time.Millisecond))
		})
	}
}

// tunedListener tunes the connections it accepts.
type tunedListener struct{ net.Listener }

func (l tunedListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err == nil {
		tuneTCP(nc)
	}
	return nc, err
}

package rpc

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Within a machine, connections go over Unix domain sockets when the
// server offers one: a round trip costs about two thirds of a loopback
// TCP one. A server listening on TCP address A also listens on the socket
// UnixPath(A); a client dialing A tries that socket first. The hello and
// its token check are the same on both.

// unixDir holds the sockets (short, to fit the 108-byte path limit).
var unixDir = filepath.Join(os.TempDir(), "rayo-sock")

// UnixPath is the socket a server on the TCP address addr also listens
// on ("" when addr is not a local one).
func UnixPath(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" || port == "0" {
		return ""
	}
	ip := net.ParseIP(host)
	if ip == nil || !isLocal(ip) {
		return ""
	}
	return filepath.Join(unixDir, strings.ReplaceAll(host, ":", "_")+"_"+port)
}

// localAddrs are this machine's interface addresses, read once: dials
// ask for them, and they do not change under a running process often
// enough to pay a netlink round trip per dial.
var localAddrs = sync.OnceValue(func() []net.IP {
	addrs, _ := net.InterfaceAddrs()
	var ips []net.IP
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			ips = append(ips, n.IP)
		}
	}
	return ips
})

func isLocal(ip net.IP) bool {
	if ip.IsLoopback() {
		return true
	}
	for _, l := range localAddrs() {
		if l.Equal(ip) {
			return true
		}
	}
	return false
}

// ListenUnix starts serving on the Unix socket for the TCP address the
// server listens on. Failing to create it is not an error: clients then
// use TCP.
func (s *Server) ListenUnix(tcpAddr string) {
	p := UnixPath(tcpAddr)
	if p == "" {
		return
	}
	if err := os.MkdirAll(unixDir, 0o700); err != nil {
		return
	}
	_ = os.Remove(p) // a stale socket of a process that died
	ln, err := net.Listen("unix", p)
	if err != nil {
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ln.Close()
		return
	}
	s.unixPaths = append(s.unixPaths, p)
	s.wg.Add(1)
	s.mu.Unlock()
	go func() { defer s.wg.Done(); _ = s.Serve(ln) }()
}

// RemoveStaleSocket removes the Unix socket that a process which listened
// on addr from started until exited left behind: a process killed cannot
// remove it itself, and a busy machine would collect thousands. A socket
// made after exited (a new process on the same port) is kept.
func RemoveStaleSocket(addr string, started, exited time.Time) {
	p := UnixPath(addr)
	if p == "" {
		return
	}
	fi, err := os.Lstat(p)
	if err == nil && fi.Mode()&os.ModeSocket != 0 && !fi.ModTime().Before(started) && fi.ModTime().Before(exited) {
		_ = os.Remove(p)
	}
}

// dialUnix tries the server's Unix socket.
func dialUnix(ctx context.Context, addr string) net.Conn {
	p := UnixPath(addr)
	if p == "" {
		return nil
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", p)
	if err != nil {
		return nil
	}
	return nc
}

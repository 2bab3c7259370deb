package rpc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Within a machine, connections go over Unix domain sockets when the
// server offers one: a round trip costs about two thirds of a loopback
// TCP one. A server listening on TCP address A also listens on the socket
// UnixPath(A); a client dialing A tries that socket first. The hello is
// the same on both.
//
// The sockets live in a directory of this user's own, which the server
// creates 0700 and both ends check with Lstat (a real directory, owned by
// this effective uid, nothing for group or others) before they use it:
// a directory another local user made first (to plant a socket where
// clients look) is refused, and everyone then uses TCP. A client also
// checks that the socket file and the process listening on it
// (SO_PEERCRED) are this user's.

// unixDir holds the sockets: per user, and short, to fit the 108-byte
// limit on a socket's path.
var unixDir = filepath.Join(os.TempDir(), "rayo-sock-"+strconv.Itoa(os.Geteuid()))

// maxUnixPath is the longest path a socket address holds (sun_path less
// its terminating NUL).
const maxUnixPath = 107

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
	p := filepath.Join(unixDir, strings.ReplaceAll(host, ":", "_")+"_"+port)
	if len(p) > maxUnixPath {
		return ""
	}
	return p
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

// ownerOf is the uid that owns the file fi describes.
func ownerOf(fi os.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}

// checkSocketDir reports whether dir is fit to hold this user's sockets:
// a directory (not a symlink to one) owned by the effective uid, with no
// permission for group or others.
func checkSocketDir(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	switch {
	case !fi.IsDir():
		return fmt.Errorf("%w: %s is not a directory (%s)", ErrSocketDirUnsafe, dir, fi.Mode().Type())
	case ownerOf(fi) != os.Geteuid():
		return fmt.Errorf("%w: %s belongs to uid %d", ErrSocketDirUnsafe, dir, ownerOf(fi))
	case fi.Mode().Perm()&0o077 != 0:
		return fmt.Errorf("%w: %s has mode %04o", ErrSocketDirUnsafe, dir, fi.Mode().Perm())
	}
	return nil
}

// ensureSocketDir creates the socket directory, or checks the one there.
func ensureSocketDir(dir string) error {
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return checkSocketDir(dir)
}

// socketDirWarned makes the warning about an unfit directory once a process.
var socketDirWarned sync.Once

// ListenUnix starts serving on the Unix socket for the TCP address the
// server listens on. Failing to create it is not an error: clients then
// use TCP.
func (s *Server) ListenUnix(tcpAddr string) {
	p := UnixPath(tcpAddr)
	if p == "" {
		return
	}
	if err := ensureSocketDir(filepath.Dir(p)); err != nil {
		socketDirWarned.Do(func() {
			s.log.Warn("rpc: not serving on Unix sockets; clients use TCP", "dir", filepath.Dir(p), "err", err)
		})
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
	// A failure is reported through Failed, like the TCP listener's.
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

// sweepGrace spares sockets made this recently: between its bind and its
// listen, a live server's socket refuses connections too.
const sweepGrace = 2 * time.Second

// SweepStaleSockets removes the socket files in this user's socket
// directory that nobody listens on (a connection to them is refused):
// those of processes killed with kill -9, which could not remove their
// own. It returns how many it removed. A node daemon and the head call it
// when they start.
func SweepStaleSockets() int {
	if checkSocketDir(unixDir) != nil {
		return 0
	}
	entries, err := os.ReadDir(unixDir)
	if err != nil {
		return 0
	}
	removed := 0
	for _, e := range entries {
		if e.Type()&os.ModeSocket == 0 {
			continue
		}
		p := filepath.Join(unixDir, e.Name())
		fi, err := os.Lstat(p)
		if err != nil || time.Since(fi.ModTime()) < sweepGrace {
			continue
		}
		if gone, _, _ := RemoveDeadSocket(p); gone {
			removed++
		}
	}
	return removed
}

// RemoveDeadSocket removes the socket file at p when nobody listens on it
// (a connect is refused), and only that very file, not one a new server
// made since. alive: a listener answered, or was too busy to (EAGAIN).
// Neither is set for a path that is gone or not a socket.
func RemoveDeadSocket(p string) (removed, alive bool, err error) {
	fi, err := os.Lstat(p)
	if err != nil || fi.Mode()&os.ModeSocket == 0 {
		return false, false, nil
	}
	nc, err := net.DialTimeout("unix", p, time.Second)
	if err == nil {
		_ = nc.Close()
		return false, true, nil
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return false, true, nil
	}
	if now, serr := os.Lstat(p); serr != nil || !os.SameFile(fi, now) {
		return false, false, nil
	}
	if err := os.Remove(p); err != nil {
		return false, false, err
	}
	return true, false, nil
}

// dialUnix tries the server's Unix socket: only in a private directory,
// on a socket file of this user's, with this user's process listening.
func dialUnix(ctx context.Context, addr string) net.Conn {
	p := UnixPath(addr)
	if p == "" {
		return nil
	}
	if checkSocketDir(filepath.Dir(p)) != nil {
		return nil
	}
	fi, err := os.Lstat(p)
	if err != nil || fi.Mode()&os.ModeSocket == 0 || ownerOf(fi) != os.Geteuid() {
		return nil
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", p)
	if err != nil {
		return nil
	}
	if !peerIsThisUser(nc) {
		_ = nc.Close()
		return nil
	}
	return nc
}

// peerIsThisUser reports whether the process at the other end of a Unix
// socket runs as this effective uid (race-free, unlike checks on paths).
func peerIsThisUser(nc net.Conn) bool {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	same := false
	_ = rc.Control(func(fd uintptr) {
		cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
		same = err == nil && int(cred.Uid) == os.Geteuid()
	})
	return same
}

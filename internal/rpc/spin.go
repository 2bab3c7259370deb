package rpc

import (
	"net"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rayo-dev/rayo/internal/sockio"
)

// Adaptive spin-polling. A thread that sleeps waiting for a socket is
// woken by the kernel; on a virtual machine that wake-up (an interrupt to
// a halted virtual CPU) took 25–50 µs here, several times the cost of the
// round trip itself, and a synchronous call pays it twice: once in the
// callee waiting for the request, once in the caller waiting for the
// reply. So a connection whose frames have been arriving close together
// checks for the next one, without sleeping, for a short window before it
// parks: the Go runtime's own spinning, applied to the socket. Frames that
// stop coming close together turn the spinning off for that connection,
// spins that keep timing out (no core to spare for the peer) make it spin
// less and less often, and one goroutine per process spins at a time, so
// a process spends at most one core on it, and only while calls come
// back to back. A Unix
// socket to a peer in the same process (the embedded cluster) never
// spins: that peer's answer needs the very threads a spinner would hold;
// nor does a TCP connection within the machine, whose peer may be this
// process too (processes of one machine talk over Unix sockets).

// spinEnv names the environment variable that sets the spin window in
// microseconds (0 turns spinning off); it is inherited by workers.
const spinEnv = "RAYO_SPIN_POLL_US"

// defaultSpin is the spin window: longer than a busy peer's turnaround
// (its handling plus a transit each way, 20–40 µs here), short enough
// that a spin for nothing wastes little.
const defaultSpin = 100 * time.Microsecond

// maxSpinUs bounds the window one may set: past a few milliseconds a
// sleeping thread's wake-up is no longer what a call waits for.
const maxSpinUs = 5000

var spinWindow = func() time.Duration {
	if v, ok := os.LookupEnv(spinEnv); ok {
		if us, err := strconv.Atoi(v); err == nil && us >= 0 {
			return time.Duration(min(us, maxSpinUs)) * time.Microsecond
		}
	}
	return defaultSpin
}()

// spinner is set while a goroutine of this process spins.
var spinner atomic.Bool

// spinState is a connection's record of how close together its frames come.
type spinState struct {
	fd      int  // the socket's descriptor, found on first use (-1: none)
	hot     bool // the last frame came soon: spin for the next
	misses  int  // spins in a row that timed out
	skip    int  // chances to spin still to pass up after misses
	waiting time.Time
}

// awaitFrame is called before reading a frame. With nothing buffered, it
// spins for the next frame if the connection is hot; it notes when the
// wait began, so that gotFrame can tell how long the frame took.
func (c *conn) awaitFrame() {
	if spinWindow == 0 || c.br.Buffered() > 0 {
		c.spin.waiting = time.Time{}
		return
	}
	now := time.Now()
	c.spin.waiting = now
	if !c.spin.hot {
		return
	}
	if c.spin.skip > 0 {
		c.spin.skip--
		return
	}
	if !spinner.CompareAndSwap(false, true) {
		return
	}
	defer spinner.Store(false)
	fd := c.socketFD()
	if fd < 0 {
		return
	}
	deadline := now.Add(spinWindow)
	for {
		if ready, err := sockio.Readable(fd); ready || err != nil {
			c.spin.misses = 0
			return
		}
		if time.Now().After(deadline) {
			// A spin for nothing. One or two now and then are the price
			// of spinning; from the third in a row, skip the next 1, 3,
			// 7 ... 63 chances to spin while misses go on, so that a
			// connection whose frames come just too late for the window
			// (on a machine whose cores are all busy, say) rarely
			// wastes one.
			c.spin.misses = min(c.spin.misses+1, maxMissShift)
			c.spin.skip = 1<<max(c.spin.misses-2, 0) - 1
			return
		}
		runtime.Gosched()
	}
}

// maxMissShift caps the skipping after missed spins at 63 waits.
const maxMissShift = 8

// gotFrame is called once a frame's first bytes are read: the connection
// stays (or turns) hot if the frame came soon after the wait began.
func (c *conn) gotFrame() {
	if c.spin.waiting.IsZero() {
		c.spin.hot = true // it was already there
		return
	}
	// A frame that came without a spin was seen only after the thread
	// woke, which adds its own delay: twice the window keeps a connection
	// that has just missed one spin from turning cold on the wake-up alone.
	c.spin.hot = time.Since(c.spin.waiting) < 2*spinWindow
}

// socketFD is the descriptor to poll, -1 when the connection must not
// spin; it is looked up once.
func (c *conn) socketFD() int {
	if c.spin.fd == 0 {
		c.spin.fd = c.pollableFD()
	}
	return c.spin.fd
}

// pollableFD is the connection's descriptor if spinning on it can pay:
// a Unix socket to another process, or a TCP connection to another
// machine.
func (c *conn) pollableFD() int {
	if ta, ok := c.nc.RemoteAddr().(*net.TCPAddr); ok && isLocal(ta.IP) {
		// Within a machine, processes talk over Unix sockets (see
		// unix.go); a TCP connection on it may well be to this process,
		// which SO_PEERCRED cannot tell.
		return -1
	}
	nc := c.nc
	if tc, ok := nc.(interface{ NetConn() net.Conn }); ok { // *tls.Conn and our wrappers of it
		// The socket under TLS: readable when the next record arrives.
		// A record the TLS layer has read but not yet handed on is not
		// seen, so such a spin may run to its window for nothing; the
		// miss back-off covers it, and a request's reply is one record.
		nc = tc.NetConn()
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return -1
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1
	}
	out := -1
	_ = rc.Control(func(fd uintptr) {
		// A peer in this very process (the embedded cluster's head and
		// node daemon) is served by this process's own threads: a
		// spinner would only take a P from the goroutine that answers.
		if cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil && int(cred.Pid) == os.Getpid() {
			return
		}
		out = int(fd)
	})
	return out
}

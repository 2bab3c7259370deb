package rpc

import (
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// tcpPair is both ends of a loopback TCP connection, closed at cleanup.
func tcpPair(t *testing.T) (accepted, dialed net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dialed, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	accepted, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dialed.Close(); accepted.Close() })
	return accepted, dialed
}

// connPair is a conn reading a real socket and the peer's end to write.
func connPair(t *testing.T) (*conn, net.Conn) {
	t.Helper()
	nc, peer := tcpPair(t)
	c := newConn(nc)
	// A loopback TCP connection never spins (its peer may be this
	// process); these tests exercise the heuristic on its descriptor.
	rc, err := nc.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	_ = rc.Control(func(fd uintptr) { c.spin.fd = int(fd) })
	return c, peer
}

func setSpinWindow(t *testing.T, d time.Duration) {
	old := spinWindow
	spinWindow = d
	t.Cleanup(func() { spinWindow = old })
}

// readByte waits as recv does and reads one byte.
func readByte(t *testing.T, c *conn) {
	t.Helper()
	var b [1]byte
	if _, err := io.ReadFull(c.br, b[:]); err != nil {
		t.Fatal(err)
	}
	c.gotFrame()
}

// A connection turns hot when a frame follows the last within the window,
// and cold when one takes longer; a hot one spins until its next frame
// is readable, and returns as soon as it is.
func TestSpinFollowsTheGapsBetweenFrames(t *testing.T) {
	setSpinWindow(t, time.Second)
	c, peer := connPair(t)
	if c.spin.hot {
		t.Fatal("a new connection is hot")
	}
	c.awaitFrame()
	peer.Write([]byte{1})
	readByte(t, c)
	if !c.spin.hot {
		t.Fatal("a frame within the window left the connection cold")
	}

	// Hot: awaitFrame spins until the byte written later is readable.
	written := make(chan time.Time, 1)
	go func() {
		time.Sleep(20 * time.Millisecond) // the gap under test, not synchronisation
		written <- time.Now()
		peer.Write([]byte{2})
	}()
	c.awaitFrame()
	returned := time.Now()
	if w := <-written; returned.Before(w) {
		t.Fatalf("awaitFrame returned %v before the frame was written", w.Sub(returned))
	}
	if c.br.Buffered() != 0 {
		t.Fatal("awaitFrame read from the connection")
	}
	if returned.Sub(c.spin.waiting) >= spinWindow {
		t.Fatal("awaitFrame spun the whole window although the frame had come")
	}
	readByte(t, c)

	// A frame later than the window turns the connection cold.
	spinWindow = time.Millisecond
	c.awaitFrame()
	time.Sleep(5 * time.Millisecond) // the gap under test
	peer.Write([]byte{3})
	readByte(t, c)
	if c.spin.hot {
		t.Fatal("a frame after the window left the connection hot")
	}
}

// One goroutine per process spins: another hot connection waits as usual.
func TestOneSpinnerAtATime(t *testing.T) {
	setSpinWindow(t, 10*time.Second)
	c, _ := connPair(t)
	c.spin.hot = true
	spinner.Store(true)
	defer spinner.Store(false)
	start := time.Now()
	c.awaitFrame()
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("a second spinner spun for %v", d)
	}
}

// A window of 0 turns spinning off.
func TestSpinOff(t *testing.T) {
	setSpinWindow(t, 0)
	c, peer := connPair(t)
	c.spin.hot = true
	start := time.Now()
	c.awaitFrame()
	if d := time.Since(start); d > time.Second {
		t.Fatalf("spun %v with spinning off", d)
	}
	peer.Write([]byte{1})
	readByte(t, c)
}

// dialChildEnv makes the test binary a child that dials the Unix socket
// it names and holds the connection until the parent closes it.
const dialChildEnv = "RAYO_RPC_TEST_DIAL"

func dialChild(path string) {
	nc, err := net.Dial("unix", path)
	if err != nil {
		os.Exit(2)
	}
	_, _ = io.Copy(io.Discard, nc)
	os.Exit(0)
}

// acceptUnix listens on a fresh Unix socket, runs dial, and returns the
// accepted end.
func acceptUnix(t *testing.T, dial func(path string)) net.Conn {
	t.Helper()
	dir, err := os.MkdirTemp("", "rayo-spin")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ln, err := net.Listen("unix", filepath.Join(dir, "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_ = ln.(*net.UnixListener).SetDeadline(time.Now().Add(30 * time.Second))
	dial(ln.Addr().String())
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

// Spinning is for a Unix socket to another process: never for one whose
// peer is this very process (the embedded cluster's head and node daemon)
// nor for a TCP connection within the machine.
func TestWhichConnectionsSpin(t *testing.T) {
	inProcess := acceptUnix(t, func(path string) {
		peer, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { peer.Close() })
	})
	if fd := newConn(inProcess).pollableFD(); fd != -1 {
		t.Errorf("a Unix socket to this process would spin (fd %d)", fd)
	}

	var child *exec.Cmd
	other := acceptUnix(t, func(path string) {
		child = exec.Command(os.Args[0], "-test.run=^$")
		child.Env = append(os.Environ(), dialChildEnv+"="+path)
		if err := child.Start(); err != nil {
			t.Fatal(err)
		}
		// Runs after the accepted end is closed (which ends the child),
		// and stops it whatever happened.
		t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	})
	if fd := newConn(other).pollableFD(); fd < 0 {
		t.Error("a Unix socket to another process would not spin")
	}

	_, peer := tcpPair(t)
	if fd := newConn(peer).pollableFD(); fd != -1 {
		t.Errorf("a loopback TCP connection would spin (fd %d)", fd)
	}
}

// Spins that time out in a row make a connection pass up its next
// chances to spin, more of them the longer it goes on; a spin that finds
// its frame ends that.
func TestMissedSpinsBackOff(t *testing.T) {
	setSpinWindow(t, time.Millisecond)
	c, peer := connPair(t)
	c.spin.hot = true
	c.awaitFrame() // nothing comes: a miss
	c.awaitFrame() // a second: still no skipping
	if c.spin.misses != 2 || c.spin.skip != 0 {
		t.Fatalf("after two misses: misses %d, skip %d; want 2, 0", c.spin.misses, c.spin.skip)
	}
	c.awaitFrame() // a third: pass up the next chance
	if c.spin.misses != 3 || c.spin.skip != 1 {
		t.Fatalf("after three misses: misses %d, skip %d; want 3, 1", c.spin.misses, c.spin.skip)
	}
	c.awaitFrame() // passed up
	c.awaitFrame() // a fourth miss: pass up the next three
	if c.spin.misses != 4 || c.spin.skip != 3 {
		t.Fatalf("after four misses: misses %d, skip %d; want 4, 3", c.spin.misses, c.spin.skip)
	}
	spinWindow = 10 * time.Second
	start := time.Now()
	c.awaitFrame() // passed up: returns at once
	if d := time.Since(start); d > 5*time.Second || c.spin.skip != 2 {
		t.Fatalf("a chance passed up took %v (skip now %d)", d, c.spin.skip)
	}
	c.spin.skip = 0
	peer.Write([]byte{1})
	c.awaitFrame() // finds the byte
	if c.spin.misses != 0 {
		t.Fatalf("a spin that found its frame left %d misses", c.spin.misses)
	}
	readByte(t, c)
}

package rpc

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// nobody is the uid an attacker's files get in these tests (root can
// give a file to another user; other users cannot).
const nobody = 65534

func chownOrSkip(t *testing.T, path string, uid int) {
	t.Helper()
	if err := os.Lchown(path, uid, uid); err != nil {
		if errors.Is(err, syscall.EPERM) {
			t.Skipf("cannot give a file to another user here: %v", err)
		}
		t.Fatal(err)
	}
}

// mustDialTCP dials addr and checks the connection went over TCP and
// serves calls.
func mustDialTCP(t *testing.T, addr, token string) {
	t.Helper()
	c, err := Dial(context.Background(), addr, token)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	if n := c.c.nc.RemoteAddr().Network(); n != "tcp" {
		t.Fatalf("dialed over %s, want tcp", n)
	}
	var r echoResp
	if err := c.Call(context.Background(), "echo", &echoReq{Text: "t"}, &r); err != nil || r.Text != "t" {
		t.Fatalf("call: %q %v", r.Text, err)
	}
}

// A socket directory another user made first (or one open to others, or
// a symlink) is refused: the server makes no socket in it, and clients
// connect over TCP.
func TestAttackersSocketDirIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func(t *testing.T, dir string)
	}{
		{"world-writable", func(t *testing.T, dir string) {
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, 0o777); err != nil {
				t.Fatal(err)
			}
		}},
		{"another owner", func(t *testing.T, dir string) {
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			chownOrSkip(t, dir, nobody)
		}},
		{"another owner, 0777", func(t *testing.T, dir string) {
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, 0o777); err != nil {
				t.Fatal(err)
			}
			chownOrSkip(t, dir, nobody)
		}},
		{"symlink", func(t *testing.T, dir string) {
			target := filepath.Join(filepath.Dir(dir), "elsewhere")
			if err := os.Mkdir(target, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, dir); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := withSocketDir(t)
			tc.make(t, dir)
			s, addr := startServer(t, "tok", nil)
			s.ListenUnix(addr)
			if _, err := os.Lstat(UnixPath(addr)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a socket in the refused directory: %v", err)
			}
			mustDialTCP(t, addr, "tok")
			select {
			case <-s.Failed():
				t.Fatal("a refused directory failed the server")
			default:
			}
			if err := checkSocketDir(dir); !errors.Is(err, ErrSocketDirUnsafe) {
				t.Fatalf("check: %v, want ErrSocketDirUnsafe", err)
			}
		})
	}
}

// The directory the server makes is private: 0700, this user's.
func TestSocketDirIsMadePrivate(t *testing.T) {
	dir := withSocketDir(t)
	s, addr := startServer(t, "tok", nil)
	s.ListenUnix(addr)
	fi, err := os.Lstat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 || ownerOf(fi) != os.Geteuid() {
		t.Fatalf("socket directory mode %v owner %d", fi.Mode(), ownerOf(fi))
	}
	if _, err := os.Lstat(UnixPath(addr)); err != nil {
		t.Fatal(err)
	}
}

// A socket file of another owner in our directory is not used.
func TestClientRefusesAnotherUsersSocket(t *testing.T) {
	dir := withSocketDir(t)
	_, addr := startServer(t, "tok", nil)
	ln := plantSocket(t, dir, addr)
	chownOrSkip(t, UnixPath(addr), nobody)
	rec := fakeListener(t, ln, challengeWithoutToken)
	mustDialTCP(t, addr, "tok")
	if n := rec.conns(); n != 0 {
		t.Fatalf("the client connected to another user's socket %d times", n)
	}
}

// peerListenEnv makes the test binary a child that listens on the Unix
// socket it names, says "ready", and reports how many bytes each
// connection sent, until its stdin closes.
const peerListenEnv = "RAYO_RPC_TEST_LISTEN"

func peerListenChild(path string) {
	ln, err := net.Listen("unix", path)
	if err != nil {
		os.Exit(2)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	_ = os.Chmod(path, 0o777)
	os.Stdout.WriteString("ready\n")
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); os.Exit(0) }()
	for {
		nc, err := ln.Accept()
		if err != nil {
			os.Exit(0)
		}
		n, _ := io.Copy(io.Discard, nc)
		nc.Close()
		os.Stdout.WriteString("read " + strings.Repeat("x", int(min(n, 1))) + "\n")
	}
}

// A socket whose file passes every check but whose listening process is
// another user's (SO_PEERCRED) is not used: the client closes it without
// sending a byte, and connects over TCP.
func TestClientRefusesAnotherUsersListener(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to run a listener as another user")
	}
	dir := withSocketDir(t)
	_, addr := startServer(t, "tok", nil)
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	// The child (a copy of this binary another user can run) listens in
	// a directory of its own; the socket is then moved into ours and
	// given to us, so that only the listener's identity tells.
	shared, err := os.MkdirTemp("", "rayo-peer")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(shared) })
	if err := os.Chmod(shared, 0o777); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(shared, "rpc.test")
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(shared, "s")
	child := exec.Command(bin, "-test.run=^$")
	child.Env = append(os.Environ(), peerListenEnv+"="+sock)
	child.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	stdin, err := child.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Skipf("cannot run a process as another user here: %v", err)
	}
	t.Cleanup(func() { stdin.Close(); _ = child.Process.Kill(); _ = child.Wait() })
	lines := bufio.NewScanner(out)
	if !lines.Scan() || lines.Text() != "ready" {
		t.Fatalf("the child did not start listening: %q", lines.Text())
	}
	if err := os.Rename(sock, UnixPath(addr)); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(UnixPath(addr), os.Geteuid(), os.Getegid()); err != nil {
		t.Fatal(err)
	}
	mustDialTCP(t, addr, "tok")
	// The client did connect (the file passed), and sent nothing.
	if !lines.Scan() || lines.Text() != "read " {
		t.Fatalf("the other user's listener got %q, want a connection with no bytes", lines.Text())
	}
}

// A Unix socket nobody listens on any more (connect is refused) or whose
// server no longer accepts (connections wait in its backlog: the state a
// listener that died of EMFILE left before) is given up for TCP.
func TestDeadSocketFallsBackToTCP(t *testing.T) {
	dir := withSocketDir(t)
	_, addr := startServer(t, "tok", nil)
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	staleSocket(t, addr)
	mustDialTCP(t, addr, "tok")

	_ = os.Remove(UnixPath(addr))
	ln, err := net.Listen("unix", UnixPath(addr)) // never accepts
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), DialTimeout)
	defer cancel()
	c, err := Dial(ctx, addr, "tok")
	if err != nil {
		t.Fatalf("dial with a socket that never accepts: %v", err)
	}
	defer c.Close()
	if n := c.c.nc.RemoteAddr().Network(); n != "tcp" {
		t.Fatalf("dialed over %s, want tcp", n)
	}
}

package integration_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/internal/pki"
	"github.com/rayo-dev/rayo/internal/session"
	"github.com/rayo-dev/rayo/internal/testcluster"
)

// tlsEcho runs on "machine B" and returns its argument and where it ran.
var tlsEcho = rayo.Register[string]("itest.tls.echo", func(_ context.Context, s string, big []byte) (string, error) {
	return fmt.Sprintf("%s|%d|%s", s, len(big), rayo.NodeID()), nil
})

// machines are two hosts the test made: in two network namespaces joined
// by a veth pair when it may create them (root), else two loopback
// addresses. Each has its own TMPDIR, hence its own Unix socket
// directory: as between real machines, its processes reach the other's
// over TCP only.
type machines struct {
	ipA, ipB string
	// wrap runs a command on machine B.
	wrap func(path string, args ...string) (string, []string)
	// capture records the TCP payloads between A and B.
	iface string
	tmpB  string
}

func newMachines(t *testing.T) *machines {
	t.Helper()
	m := &machines{tmpB: filepath.Join(t.TempDir(), "machineB-tmp")}
	if err := os.MkdirAll(m.tmpB, 0o700); err != nil {
		t.Fatal(err)
	}
	if ns, ipA, ipB, vethA, ok := makeNetns(t); ok {
		m.ipA, m.ipB, m.iface = ipA, ipB, vethA
		m.wrap = func(path string, args ...string) (string, []string) {
			return "ip", append([]string{"netns", "exec", ns, path}, args...)
		}
		t.Logf("machines: network namespaces (%s on %s, %s in %s)", ipA, vethA, ipB, ns)
		return m
	}
	m.ipA, m.ipB, m.iface = "127.0.0.1", "127.0.0.2", "lo"
	m.wrap = func(path string, args ...string) (string, []string) { return path, args }
	t.Logf("machines: loopback addresses %s and %s (no network namespaces here)", m.ipA, m.ipB)
	return m
}

// makeNetns makes a network namespace joined to this one by a veth pair;
// ok is false where that is not permitted.
func makeNetns(t *testing.T) (ns, ipA, ipB, vethA string, ok bool) {
	t.Helper()
	if os.Geteuid() != 0 || os.Getenv("RAYO_TEST_NO_NETNS") == "1" {
		return "", "", "", "", false
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "", "", "", "", false
	}
	var r [3]byte
	_, _ = rand.Read(r[:])
	id := hex.EncodeToString(r[:])
	ns, vethA, vethB := "rayo-tls-"+id, "rt"+id+"a", "rt"+id+"b"
	subnet := fmt.Sprintf("10.%d.%d", 200+int(r[0])%50, r[1])
	ipA, ipB = subnet+".1", subnet+".2"
	run := func(args ...string) error {
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := run("netns", "add", ns); err != nil {
		t.Logf("no network namespace: %v", err)
		return "", "", "", "", false
	}
	t.Cleanup(func() { _ = run("netns", "del", ns) })
	steps := [][]string{
		{"link", "add", vethA, "type", "veth", "peer", "name", vethB},
		{"link", "set", vethB, "netns", ns},
		{"addr", "add", ipA + "/24", "dev", vethA},
		{"link", "set", vethA, "up"},
		{"netns", "exec", ns, "ip", "addr", "add", ipB + "/24", "dev", vethB},
		{"netns", "exec", ns, "ip", "link", "set", vethB, "up"},
		{"netns", "exec", ns, "ip", "link", "set", "lo", "up"},
	}
	for i, s := range steps {
		if err := run(s...); err != nil {
			t.Logf("no veth pair: %v", err)
			return "", "", "", "", false
		}
		if i == 0 {
			t.Cleanup(func() { _ = run("link", "del", vethA) })
		}
	}
	return ns, ipA, ipB, vethA, true
}

// tap records the TCP payloads of packets to or from ip on an interface
// (AF_PACKET): everything someone on the path between the machines reads.
type tap struct {
	fd   int
	ip   net.IP
	mu   sync.Mutex
	rec  bytes.Buffer
	done chan struct{}
}

const ethPAll = 0x0003

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func startTap(t *testing.T, iface, ip string) *tap {
	t.Helper()
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		t.Fatal(err)
	}
	fd, err := syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW, int(htons(ethPAll)))
	if err != nil {
		t.Skipf("no packet capture here (%v): the test needs CAP_NET_RAW to see the bytes on the path", err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrLinklayer{Protocol: htons(ethPAll), Ifindex: ifi.Index}); err != nil {
		_ = syscall.Close(fd)
		t.Fatal(err)
	}
	_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, 64<<20)
	tv := syscall.NsecToTimeval((100 * time.Millisecond).Nanoseconds())
	_ = syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv)
	tp := &tap{fd: fd, ip: net.ParseIP(ip).To4(), done: make(chan struct{})}
	stop := make(chan struct{})
	go tp.loop(stop)
	t.Cleanup(func() { close(stop); <-tp.done; _ = syscall.Close(fd) })
	return tp
}

func (tp *tap) loop(stop chan struct{}) {
	defer close(tp.done)
	buf := make([]byte, 256<<10)
	for {
		select {
		case <-stop:
			return
		default:
		}
		n, _, err := syscall.Recvfrom(tp.fd, buf, 0)
		if err != nil {
			if errors.Is(err, syscall.EBADF) {
				return
			}
			continue // EAGAIN at the timeout, EINTR, ENOBUFS under a burst: keep reading
		}
		if p := tp.payload(buf[:n]); len(p) > 0 {
			tp.mu.Lock()
			if tp.rec.Len() < 512<<20 {
				tp.rec.Write(p)
			}
			tp.mu.Unlock()
		}
	}
}

// payload is the TCP payload of an Ethernet frame of IPv4 to or from
// tp.ip, else nil.
func (tp *tap) payload(f []byte) []byte {
	const eth = 14
	if len(f) < eth+20 || binary.BigEndian.Uint16(f[12:14]) != 0x0800 {
		return nil
	}
	ip := f[eth:]
	ihl := int(ip[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(ip[2:4]))
	if ip[9] != syscall.IPPROTO_TCP || total > len(ip) || ihl+20 > total {
		return nil
	}
	if !net.IP(ip[12:16]).Equal(tp.ip) && !net.IP(ip[16:20]).Equal(tp.ip) {
		return nil
	}
	tcp := ip[ihl:total]
	off := int(tcp[12]>>4) * 4
	if off > len(tcp) {
		return nil
	}
	return tcp[off:]
}

func (tp *tap) count(marker string) (n, total int) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return bytes.Count(tp.rec.Bytes(), []byte(marker)), tp.rec.Len()
}

// TestTLSBetweenMachines: a head on machine A and a node joining from
// machine B over TCP. With TLS (the default), a marker passed to a task
// on B and returned from it crosses the path in no readable byte; with
// --tls=false it does (so the check can fail). A node without the
// cluster's certificate, or that expects another CA, is refused.
func TestTLSBetweenMachines(t *testing.T) {
	for _, tc := range []struct {
		name string
		tls  bool
	}{{"tls", true}, {"plain", false}} {
		t.Run(tc.name, func(t *testing.T) { testTLSBetweenMachines(t, tc.tls) })
	}
}

// twoMachineCluster is a head on machine A and what it takes to start a
// node on machine B.
type twoMachineCluster struct {
	m  *machines
	c  *testcluster.Cluster
	fp string // the head's CA fingerprint ("" without TLS)
	// nodeB is the command of a node on machine B.
	nodeB func(name string, extra ...string) testcluster.Command
}

func startTwoMachineCluster(t *testing.T, withTLS bool) *twoMachineCluster {
	t.Helper()
	m := newMachines(t)
	headArgs := []string{"--node-ip-address", m.ipA}
	if !withTLS {
		headArgs = append(headArgs, "--tls=false")
	}
	c := testcluster.Start(t, testcluster.NodeSpec{CPUs: 1, ExtraArgs: headArgs})
	fp := ""
	if withTLS {
		sess, err := session.Latest(c.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(sess.Path, session.CAFileName))
		if err != nil {
			t.Fatalf("the head wrote no CA certificate: %v", err)
		}
		ca, err := pki.ParseCertificate(b)
		if err != nil {
			t.Fatal(err)
		}
		fp = pki.Fingerprint(ca.Raw)
	}
	rayoBin := testcluster.BuildRayo(t)
	nodeB := func(name string, extra ...string) testcluster.Command {
		args := append([]string{"start", "--address", c.Address(), "--block", "--temp-dir", filepath.Join(m.tmpB, name),
			"--node-ip-address", m.ipB, "--num-cpus", "1", "--resources", `{"machineB": 1}`}, extra...)
		path, args := m.wrap(rayoBin, args...)
		return testcluster.Command{Name: name, Path: path, Args: args, Dir: m.tmpB,
			Env: []string{"RAYO_TOKEN=" + c.Token(), "TMPDIR=" + m.tmpB}}
	}
	return &twoMachineCluster{m: m, c: c, fp: fp, nodeB: nodeB}
}

func testTLSBetweenMachines(t *testing.T, withTLS bool) {
	tc := startTwoMachineCluster(t, withTLS)
	m, c, fp, nodeB := tc.m, tc.c, tc.fp, tc.nodeB
	if withTLS {
		// Refused: a node that expects another CA (someone on the path,
		// another cluster), before it proves the token; a node without
		// TLS.
		other, err := pki.NewCA()
		if err != nil {
			t.Fatal(err)
		}
		out, err := testcluster.Run(t, time.Minute, nodeB("wrong-ca", "--ca-fingerprint", other.Fingerprint()))
		if err == nil || !strings.Contains(out, other.Fingerprint()) || !strings.Contains(out, fp) {
			t.Fatalf("a node expecting another CA: err %v, output:\n%s", err, out)
		}
		out, err = testcluster.Run(t, time.Minute, nodeB("no-tls"))
		if err == nil || !strings.Contains(out, "requires TLS") {
			t.Fatalf("a node without TLS: err %v, output:\n%s", err, out)
		}
	}

	bID := joinMachineB(t, c, nodeB, fp)

	ctx := withTimeout(t, 2*time.Minute)
	if err := rayo.Init(ctx, rayo.WithAddress(c.Address()), rayo.WithToken(c.Token()), rayo.WithTempDir(c.TempDir()),
		rayo.WithLogToDriver(false)); err != nil {
		t.Fatalf("rayo.Init: %v", err)
	}
	t.Cleanup(rayo.Shutdown)
	// A first call starts B's worker: the job binary (tens of MiB) crosses
	// before the tap starts, so a burst of it cannot crowd the marker out
	// of the capture's buffer.
	onB := tlsEcho.Options(rayo.Resources(map[string]float64{"machineB": 1}))
	if _, err := onB.Remote("warm-up", []byte("warm-up")).Get(ctx); err != nil {
		t.Fatal(err)
	}
	tp := startTap(t, m.iface, m.ipB)
	var r [8]byte
	_, _ = rand.Read(r[:])
	marker := "rayo-marker-" + hex.EncodeToString(r[:])
	big := bytes.Repeat([]byte(marker), (256<<10)/len(marker)) // through the object store and a pull
	got, err := onB.Remote(marker, big).Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%s|%d|%s", marker, len(big), bID)
	if got != want {
		t.Fatalf("the task returned %q, want %q", got, want)
	}
	rayo.Shutdown()
	seen, total := tp.count(marker)
	t.Logf("TLS=%v: %d bytes of TCP payload between the machines, the marker %d times", withTLS, total, seen)
	if total == 0 {
		t.Fatal("nothing crossed between the machines: the test checks nothing")
	}
	if withTLS && seen > 0 {
		t.Fatalf("the marker crossed the path in the clear %d times", seen)
	}
	if !withTLS && seen == 0 {
		t.Fatal("without TLS the marker should be readable on the path: the capture misses the traffic")
	}
}

// joinMachineB starts a node on machine B (with the head's CA fingerprint
// when fp is set) and returns its ID once the head lists it alive.
func joinMachineB(t *testing.T, c *testcluster.Cluster, nodeB func(string, ...string) testcluster.Command, fp string) string {
	t.Helper()
	var extra []string
	if fp != "" {
		extra = []string{"--ca-fingerprint", fp}
	}
	b := testcluster.Spawn(t, nodeB("nodeB", extra...))
	var bID string
	c.WaitFor(t, time.Minute, func() bool {
		if b.Exited() {
			t.Fatalf("node B exited: %v\n%s", b.ExitErr(), b.Output())
		}
		for _, n := range c.Nodes(t) {
			if n.Alive && n.Info.Total["machineB"] > 0 {
				bID = n.Info.NodeID
				return true
			}
		}
		return false
	}, "node B to join")
	return bID
}

var (
	tlsCostActor = rayo.RegisterActor[tlsCostCounter]("itest.tls.counter", func() *tlsCostCounter { return &tlsCostCounter{} })
	tlsCostIncr  = rayo.RegisterMethod[int](tlsCostActor, "Incr", func(c *tlsCostCounter) int { c.n++; return c.n })
	tlsCostLen   = rayo.Register[int]("itest.tls.len", func(_ context.Context, b []byte) (int, error) { return len(b), nil })
)

type tlsCostCounter struct{ n int }

// TestTLSCost measures what TLS costs between two machines (a head and
// driver on A, a node on B), each row beside plain TCP in the same run:
// synchronous actor calls from A to an actor on B, and a pull of a large
// object made on A by a task on B. It is a measurement, not a check:
// it runs only when RAYO_TLS_COST is set (RAYO_TLS_COST_MIB sets the
// object's size, default 1024).
//
//	RAYO_TLS_COST=1 go test -count=1 -v -run TestTLSCost ./tests/integration/
func TestTLSCost(t *testing.T) {
	if os.Getenv("RAYO_TLS_COST") == "" {
		t.Skip("a measurement: set RAYO_TLS_COST=1 to run it")
	}
	mib := 1024
	if v, err := strconv.Atoi(os.Getenv("RAYO_TLS_COST_MIB")); err == nil && v > 0 {
		mib = v
	}
	for _, withTLS := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", withTLS), func(t *testing.T) { measureTLSCost(t, withTLS, mib) })
	}
}

func measureTLSCost(t *testing.T, withTLS bool, mib int) {
	tc := startTwoMachineCluster(t, withTLS)
	joinMachineB(t, tc.c, tc.nodeB, tc.fp)
	ctx := withTimeout(t, 5*time.Minute)
	if err := rayo.Init(ctx, rayo.WithAddress(tc.c.Address()), rayo.WithToken(tc.c.Token()), rayo.WithTempDir(tc.c.TempDir()),
		rayo.WithLogToDriver(false)); err != nil {
		t.Fatalf("rayo.Init: %v", err)
	}
	t.Cleanup(rayo.Shutdown)
	// Half of B's marker resource each: the actor and the tasks share B.
	onB := rayo.Resources(map[string]float64{"machineB": 0.5})

	h, err := tlsCostActor.Options(onB).New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const calls = 2000
	var rates []float64
	for trial := 0; trial < 5; trial++ {
		start := time.Now()
		for range calls {
			if _, err := tlsCostIncr.Remote(h).Get(ctx); err != nil {
				t.Fatal(err)
			}
		}
		rates = append(rates, calls/time.Since(start).Seconds())
	}
	slices.Sort(rates)
	t.Logf("TLS=%v: sync actor calls A→B: median %.0f calls/s (trials %.0f)", withTLS, rates[len(rates)/2], rates)

	// A first task starts B's worker for the tasks, so that the pull
	// below times the transfer, not a worker's start.
	if _, err := tlsCostLen.Options(onB).Remote([]byte("warm-up")).Get(ctx); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, mib<<20)
	for i := range big {
		big[i] = byte(i)
	}
	ref, err := rayo.Put(ctx, big)
	if err != nil {
		t.Fatal(err)
	}
	big = nil
	start := time.Now()
	n, err := tlsCostLen.Options(onB).Remote(ref).Get(ctx)
	if err != nil || n != mib<<20 {
		t.Fatalf("len on B: %d, %v", n, err)
	}
	d := time.Since(start)
	t.Logf("TLS=%v: %d MiB pulled A→B by a task on B: %v, %.2f GB/s", withTLS, mib, d.Round(time.Millisecond), gbps(int64(mib)<<20, d))
}

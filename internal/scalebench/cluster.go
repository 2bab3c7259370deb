package scalebench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/rayo-dev/rayo/internal/objstore"
	"github.com/rayo-dev/rayo/internal/pki"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
	"github.com/rayo-dev/rayo/internal/session"
)

// cluster is a head and n node daemons started by the harness.
type cluster struct {
	bin    string
	root   string // this cluster's directory: temp dirs and logs
	marker string
	nw     *network

	head     *proc
	headTemp string
	addr     string
	token    string
	fp       string   // the cluster CA's fingerprint ("" without TLS)
	tls      *rpc.TLS // the harness's identity to the cluster's daemons
	client   *rpc.Client

	// mu guards nodes' IDs as waitAlive learns them.
	mu    sync.Mutex
	nodes []*node
	// segments are the nodes' store files (the head's node's too): a
	// daemon that had to be SIGKILLed leaves its file in /dev/shm.
	segments map[string]bool
}

// node is one node daemon and its place.
type node struct {
	i   int
	p   *proc
	net netNode
	id  string // its node ID, once registered
	// killed: the harness killed it on purpose.
	killed bool
}

// startHead starts the head and waits until it answers.
func startHead(ctx context.Context, bin, root, marker string, nw *network, o *Options) (*cluster, error) {
	c := &cluster{bin: bin, root: root, marker: marker, nw: nw, headTemp: filepath.Join(root, "head")}
	if err := os.MkdirAll(c.headTemp, 0o700); err != nil {
		return nil, fmt.Errorf("scalebench: %w", err)
	}
	args := []string{"start", "--head", "--block", "--port", "0", "--temp-dir", c.headTemp,
		"--node-ip-address", nw.headIP, "--num-cpus", strconv.FormatFloat(o.NodeCPUs, 'f', -1, 64),
		// The driver reads every large result through the head's node.
		"--object-store-memory", strconv.FormatInt(max(o.StoreBytes, 2<<30), 10)}
	if o.PlainTCP {
		args = append(args, "--tls=false")
	}
	p, err := startProc("head", root, root, bin, args, []string{MarkerEnv + "=" + marker})
	if err != nil {
		return nil, err
	}
	c.head = p
	err = poll(ctx, 2*time.Minute, func() (bool, error) {
		if p.exited() {
			return false, fmt.Errorf("scalebench: the head exited:\n%s", p.tail(4000))
		}
		d, err := session.Latest(c.headTemp)
		if err != nil {
			return false, nil
		}
		addr, err1 := d.ReadAddress()
		token, err2 := d.ReadToken()
		if err1 != nil || err2 != nil {
			return false, nil
		}
		c.addr, c.token = addr, token
		if b, err := os.ReadFile(filepath.Join(d.Path, session.CAFileName)); err == nil {
			ca, err := pki.ParseCertificate(b)
			if err != nil {
				return false, fmt.Errorf("scalebench: the head's CA: %w", err)
			}
			c.fp = pki.Fingerprint(ca.Raw)
		}
		_, err = c.status(ctx)
		return err == nil, nil
	})
	if err != nil {
		return c, fmt.Errorf("scalebench: waiting for the head: %w", err)
	}
	return c, nil
}

// startNodes starts a node daemon in each of the network's places, all
// at once; store gives node i's object store capacity.
func (c *cluster) startNodes(o *Options, store func(i int) int64) error {
	env := []string{MarkerEnv + "=" + c.marker, "RAYO_TOKEN=" + c.token}
	if c.fp != "" {
		env = append(env, "RAYO_CA_FINGERPRINT="+c.fp)
	}
	for i, nn := range c.nw.nodes {
		dir := filepath.Join(c.root, fmt.Sprintf("node%d", i))
		if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o700); err != nil {
			return fmt.Errorf("scalebench: %w", err)
		}
		args := []string{"start", "--address", c.addr, "--block", "--temp-dir", dir, "--node-ip-address", nn.ip,
			"--num-cpus", strconv.FormatFloat(o.NodeCPUs, 'f', -1, 64),
			"--object-store-memory", strconv.FormatInt(store(i), 10)}
		path := c.bin
		if nn.ns != "" {
			args = append([]string{"netns", "exec", nn.ns, c.bin}, args...)
			path = "ip"
		}
		p, err := startProc(fmt.Sprintf("node%d", i), dir, c.root, path, args,
			append(env, "TMPDIR="+filepath.Join(dir, "tmp")))
		if err != nil {
			return err
		}
		c.mu.Lock()
		c.nodes = append(c.nodes, &node{i: i, p: p, net: nn})
		c.mu.Unlock()
	}
	return nil
}

// waitAlive waits until the head lists every node daemon alive (and the
// head's own node), and records their IDs.
func (c *cluster) waitAlive(ctx context.Context, timeout time.Duration) error {
	return poll(ctx, timeout, func() (bool, error) {
		if c.head.exited() {
			return false, fmt.Errorf("scalebench: the head exited:\n%s", c.head.tail(4000))
		}
		for _, n := range c.nodes {
			if n.p.exited() && !n.killed {
				return false, fmt.Errorf("scalebench: node %d exited:\n%s", n.i, n.p.tail(4000))
			}
		}
		st, err := c.status(ctx)
		if err != nil {
			return false, nil
		}
		byPid := map[int]protocol.NodeState{}
		alive := 0
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.segments == nil {
			c.segments = map[string]bool{}
		}
		for _, ns := range st.Nodes {
			if ns.Alive {
				byPid[ns.Info.Pid] = ns
				alive++
				c.segments[objstore.SegmentPath(shmDir, ns.Info.NodeID, ns.Info.Pid)] = true
			}
		}
		for _, n := range c.nodes {
			ns, ok := byPid[n.p.pid]
			if !ok {
				return false, nil
			}
			n.id = ns.Info.NodeID
		}
		return alive >= len(c.nodes)+1, nil
	})
}

// status asks the head for ClusterStatus over a cached connection.
func (c *cluster) status(ctx context.Context) (*protocol.ClusterStatusReply, error) {
	if c.client != nil {
		select {
		case <-c.client.Done():
			c.client = nil
		default:
		}
	}
	if c.client == nil {
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if c.tls == nil {
			id, err := rpc.TLSSettings{LocalCAFile: session.CAFile(c.headTemp, c.addr)}.Resolve(dctx, c.addr, c.token, "scalebench")
			if err != nil {
				return nil, err
			}
			c.tls = id
		}
		cl, err := rpc.Dial(dctx, c.addr, c.token, rpc.WithTLS(c.tls))
		if err != nil {
			return nil, err
		}
		c.client = cl
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var st protocol.ClusterStatusReply
	if err := c.client.Call(cctx, protocol.HeadClusterStatus, &protocol.ClusterStatusRequest{}, &st); err != nil {
		_ = c.client.Close()
		c.client = nil
		return nil, err
	}
	return &st, nil
}

// nodeCall calls a node daemon's method.
func (c *cluster) nodeCall(ctx context.Context, addr, method string, req, resp any) error {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cl, err := rpc.Dial(cctx, addr, c.token, rpc.WithTLS(c.tls))
	if err != nil {
		return err
	}
	defer cl.Close()
	return cl.Call(cctx, method, req, resp)
}

// stop stops every process (nodes first, so that none reports to a gone
// head), and the connection.
func (c *cluster) stop() {
	if c.client != nil {
		_ = c.client.Close()
	}
	var ps []*proc
	for _, n := range c.nodes {
		ps = append(ps, n.p)
	}
	stopAll(ps)
	if c.head != nil {
		stopAll([]*proc{c.head})
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for path := range c.segments {
		_ = os.Remove(path) // gone already unless its daemon was killed
	}
}

// shmDir is where node daemons keep their stores (the default).
const shmDir = "/dev/shm"

// poll calls cond every 50 ms until it holds, fails, ctx ends or timeout
// passes.
func poll(ctx context.Context, timeout time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		ok, err := cond()
		if err != nil || ok {
			return err
		}
		if time.Now().After(deadline) {
			return errTimeout
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

var errTimeout = errors.New("scalebench: timed out")

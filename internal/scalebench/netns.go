package scalebench

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
)

// network is where the daemons live: one network namespace per node
// daemon, each joined by a veth pair to a bridge in the root namespace
// that carries the head's address; or, without namespaces, loopback.
type network struct {
	// id names this run's namespaces and links (a random hex string).
	id string
	// netns is false in the loopback fallback.
	netns  bool
	bridge string
	// headIP is the bridge's address (netns) or 127.0.0.1.
	headIP string
	subnet byte // the run's network is 10.subnet.0.0/16
	nodes  []netNode
}

// netNode is one node daemon's place on the network.
type netNode struct {
	ns   string // "" on loopback
	veth string // root side of its veth pair
	ip   string
}

// netnsPrefix begins every namespace this package makes, so a run's
// leftovers can be found (RemoveLeftovers).
const netnsPrefix = "rayo-sb-"

func newRunID() string {
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// loopback is the fallback: every daemon on 127.0.0.1.
func loopback(n int) *network {
	nw := &network{headIP: "127.0.0.1"}
	for i := 0; i < n; i++ {
		nw.nodes = append(nw.nodes, netNode{ip: "127.0.0.1"})
	}
	return nw
}

// canNetns says why network namespaces are out of reach ("" if they are
// not).
func canNetns() string {
	if os.Geteuid() != 0 {
		return "not root"
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "no ip command (iproute2)"
	}
	return ""
}

// setupNetns makes the bridge and n namespaces. On error it removes what
// it made.
func setupNetns(id string, n int) (*network, error) {
	if n > 250*250 {
		return nil, fmt.Errorf("scalebench: %d nodes do not fit one /16", n)
	}
	// 10.64-127.x.y: clear of 10.0.x and of the 10.200+ the integration
	// tests use; one no route of this machine's covers yet (another run).
	nw := &network{id: id, netns: true, bridge: "rsb" + id + "br"}
	routes, _ := exec.Command("ip", "-o", "route", "show").Output()
	for try := 0; ; try++ {
		var r [1]byte
		_, _ = rand.Read(r[:])
		nw.subnet = 64 + r[0]%64
		if !strings.Contains(" "+strings.ReplaceAll(string(routes), "\n", " "), fmt.Sprintf(" 10.%d.", nw.subnet)) || try == 16 {
			break
		}
	}
	nw.headIP = fmt.Sprintf("10.%d.0.1", nw.subnet)
	var b bytes.Buffer
	fmt.Fprintf(&b, "link add %s type bridge\naddr add %s/16 dev %s\nlink set %s up\n", nw.bridge, nw.headIP, nw.bridge, nw.bridge)
	for i := 0; i < n; i++ {
		nn := netNode{ns: fmt.Sprintf("%s%s-%d", netnsPrefix, id, i), veth: fmt.Sprintf("rsb%sv%d", id, i),
			ip: fmt.Sprintf("10.%d.%d.%d", nw.subnet, 1+i/250, 1+i%250)}
		nw.nodes = append(nw.nodes, nn)
		fmt.Fprintf(&b, "netns add %s\nlink add %s type veth peer name eth0 netns %s\nlink set %s master %s up\n",
			nn.ns, nn.veth, nn.ns, nn.veth, nw.bridge)
	}
	if err := ipBatch("", b.Bytes()); err != nil {
		nw.teardown()
		return nil, err
	}
	// Inside each namespace: its address, its links up. One ip process per
	// namespace, a few at a time.
	errc := make(chan error, n)
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for _, nn := range nw.nodes {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			cmds := fmt.Sprintf("addr add %s/16 dev eth0\nlink set eth0 up\nlink set lo up\n", nn.ip)
			if err := ipBatch(nn.ns, []byte(cmds)); err != nil {
				errc <- err
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		nw.teardown()
		return nil, err
	}
	return nw, nil
}

// ipBatch runs `ip [-n ns] -batch -` with cmds on its standard input.
func ipBatch(ns string, cmds []byte) error {
	args := []string{"-batch", "-"}
	if ns != "" {
		args = append([]string{"-n", ns}, args...)
	}
	cmd := exec.Command("ip", args...)
	cmd.Stdin = bytes.NewReader(cmds)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("scalebench: ip %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// teardown removes the namespaces (their veth ends go with them) and the
// bridge; it keeps going past errors and returns them joined.
func (nw *network) teardown() error {
	if nw == nil || !nw.netns {
		return nil
	}
	var b bytes.Buffer
	for _, nn := range nw.nodes {
		// The veth first: a namespace's links go away asynchronously
		// after netns del, and the next run may reuse the names at once.
		fmt.Fprintf(&b, "link del %s\nnetns del %s\n", nn.veth, nn.ns)
	}
	fmt.Fprintf(&b, "link del %s\n", nw.bridge)
	// -force: go on past a missing one (a setup that failed half way).
	cmd := exec.Command("ip", "-force", "-batch", "-")
	cmd.Stdin = &b
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("scalebench: removing the namespaces: %w: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// linkRe matches this package's bridges and veths.
var linkRe = regexp.MustCompile(`^rsb[0-9a-f]{1,4}(br|v[0-9]+)$`)

// RemoveLeftovers removes the namespaces and bridge of run id (or of any
// run, with id ""): a run killed with SIGKILL cannot clean up after
// itself.
func RemoveLeftovers(id string) error {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return fmt.Errorf("scalebench: ip netns list: %w", err)
	}
	var b bytes.Buffer
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		if strings.HasPrefix(name, netnsPrefix+id) {
			fmt.Fprintf(&b, "netns del %s\n", name)
		}
	}
	links, err := exec.Command("ip", "-o", "link", "show").Output()
	if err == nil {
		for _, line := range strings.Split(string(links), "\n") {
			f := strings.Fields(line)
			if len(f) > 1 {
				name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
				if linkRe.MatchString(name) && strings.HasPrefix(name, "rsb"+id) {
					fmt.Fprintf(&b, "link del %s\n", name)
				}
			}
		}
	}
	if b.Len() == 0 {
		return nil
	}
	cmd := exec.Command("ip", "-force", "-batch", "-")
	cmd.Stdin = &b
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("scalebench: removing leftovers: %w: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

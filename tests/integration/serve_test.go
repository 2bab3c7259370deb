package integration_test

// Package serve (imported as sv: metrics_test.go has a task named serve)
// on a real multi-process cluster: a proxy on every node routing to
// replicas on other nodes, a node holding a replica killed under load, the
// controller's worker killed (the applications keep serving, the
// restarted controller adopts the running replicas), and a composed
// application whose deployments are pinned to different nodes, and the
// controller's recovery: route tables after its restart, replicas with
// high numbers, a restart during a rolling update.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/testcluster"
	sv "github.com/rayo-dev/rayo/serve"
)

// Deployments, registered at package level so that the workers (this
// test binary) have them too.
var (
	// svWhereDep answers over HTTP with the node its replica runs on.
	// One CPU each: on nodes of one CPU, replicas land on distinct nodes.
	svWhereDep = sv.NewDeployment[svWhere]("itest.serve.where", func() *svWhere { return &svWhere{} },
		sv.DeploymentConfig{NumCPUs: 1, MaxOngoingRequests: 8, GracefulShutdownTimeout: 2 * time.Second})

	// svModelDep and svIngressDep are a composed application: the ingress
	// calls the model through a handle.
	svModelDep = sv.NewDeployment[svModel]("itest.serve.model", func(factor int) *svModel { return &svModel{factor} },
		sv.DeploymentConfig{NumCPUs: 0.5, Resources: map[string]float64{"serve_model": 1}, GracefulShutdownTimeout: 2 * time.Second})
	svIngressDep = sv.NewDeployment[svIngress]("itest.serve.ingress", func(m sv.DeploymentHandle) *svIngress { return &svIngress{m} },
		sv.DeploymentConfig{NumCPUs: 0.5, Resources: map[string]float64{"serve_ingress": 1}, GracefulShutdownTimeout: 2 * time.Second})
)

// svSlowStartDep answers with its version; its constructor takes
// startup long (a model loading), which holds a rolling update open.
var svSlowStartDep = sv.NewDeployment[svSlowStart]("itest.serve.slowstart", func(v string, startup time.Duration) *svSlowStart {
	time.Sleep(startup)
	return &svSlowStart{v}
}, sv.DeploymentConfig{NumCPUs: 0.25, GracefulShutdownTimeout: 2 * time.Second})

type svSlowStart struct{ v string }

func (s *svSlowStart) ServeHTTP(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, s.v) }

type svWhere struct{}

func (*svWhere) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// A little work, so that a load has requests in flight on each
	// replica.
	time.Sleep(2 * time.Millisecond)
	fmt.Fprint(w, rayo.NodeID())
}

type svModel struct{ factor int }

// svHop says where each deployment of a composed call ran.
type svHop struct {
	Y           int    `json:"y" msgpack:"y"`
	IngressNode string `json:"ingress_node" msgpack:"i"`
	ModelNode   string `json:"model_node" msgpack:"m"`
}

func (m *svModel) Predict(ctx context.Context, x int) (svHop, error) {
	rc, err := rayo.GetRuntimeContext(ctx)
	if err != nil {
		return svHop{}, err
	}
	return svHop{Y: m.factor * x, ModelNode: rc.NodeID}, nil
}

type svIngress struct{ model sv.DeploymentHandle }

// Route is callable through a handle: it calls the model and says where
// both ran.
func (in *svIngress) Route(ctx context.Context, x int) (svHop, error) {
	h, err := sv.Result[svHop](ctx, in.model.Call(ctx, "Predict", x))
	if err != nil {
		return svHop{}, err
	}
	h.IngressNode = rayo.NodeID()
	return h, nil
}

func (in *svIngress) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	x, err := strconv.Atoi(r.URL.Query().Get("x"))
	if err != nil {
		http.Error(w, "x: "+err.Error(), http.StatusBadRequest)
		return
	}
	h, err := in.Route(r.Context(), x)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(h)
}

const (
	svNamespace      = "serve" // serve's actors' namespace
	svControllerName = "rayo.serve.controller"
	svProxyPrefix    = "rayo.serve.proxy:"
	svReplicaPrefix  = "rayo.serve.replica:"
)

// svStart starts Serve with a proxy on every node (each on a free port),
// and shuts it down when the test ends, before the driver leaves
// (cleanups run last in, first out: connect's rayo.Shutdown runs after).
func svStart(t *testing.T) string {
	t.Helper()
	ctx := withTimeout(t, time.Minute)
	addr, err := sv.Start(ctx, sv.HTTPOptions{Port: -1})
	if err != nil {
		t.Fatalf("sv.Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := sv.Shutdown(ctx); err != nil {
			t.Errorf("sv.Shutdown: %v", err)
		}
	})
	return addr
}

// svActors lists the live actors of serve's namespace whose names start
// with prefix, from the head's directory.
func svActors(t *testing.T, c *testcluster.Cluster, prefix string) []protocol.ActorInfo {
	t.Helper()
	var out []protocol.ActorInfo
	for _, a := range c.Status(t).Actors {
		if a.Namespace == svNamespace && strings.HasPrefix(a.Name, prefix) && a.State == "ALIVE" {
			out = append(out, a)
		}
	}
	return out
}

// svAliveNodes lists the IDs of the cluster's live nodes.
func svAliveNodes(t *testing.T, c *testcluster.Cluster) []string {
	t.Helper()
	var ids []string
	for _, n := range c.Nodes(t) {
		if n.Alive {
			ids = append(ids, n.Info.NodeID)
		}
	}
	slices.Sort(ids)
	return ids
}

// svHTTP is an HTTP client with its own connections, closed by the
// test's end (goleak checks the driver leaves no goroutine).
func svHTTP(t *testing.T, timeout time.Duration) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Timeout: timeout, Transport: tr}
}

// svGet sends one GET and returns the status and body.
func svGet(client *http.Client, url string) (int, string, error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// svProxyAddr finds the HTTP address of the proxy actor in process pid.
// The public API gives the address of the caller's node's proxy only
// (sv.Start's result), so this looks for it from outside: the TCP
// ports pid listens on (its socket inodes in /proc/<pid>/fd, matched
// against /proc/net/tcp), less the worker's own RPC port, each asked for
// an unknown path: the proxy answers with "Server: rayo-serve".
func svProxyAddr(t *testing.T, client *http.Client, a protocol.ActorInfo) string {
	t.Helper()
	inodes := map[string]bool{}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", a.Pid))
	if err != nil {
		t.Fatalf("the proxy %s's process: %v", a.Name, err)
	}
	for _, fd := range fds {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", a.Pid, fd.Name()))
		if err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	_, rpcPort, _ := net.SplitHostPort(a.Addr)
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(table)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) < 10 || fs[3] != "0A" || !inodes[fs[9]] { // 0A: LISTEN
				continue
			}
			_, hexPort, _ := strings.Cut(fs[1], ":")
			port, err := strconv.ParseUint(hexPort, 16, 16)
			if err != nil || strconv.FormatUint(port, 10) == rpcPort {
				continue
			}
			addr := net.JoinHostPort("127.0.0.1", strconv.FormatUint(port, 10))
			resp, err := client.Get("http://" + addr + "/itest-no-such-route")
			if err != nil {
				continue
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.Header.Get("Server") == "rayo-serve" {
				f.Close()
				return addr
			}
		}
		f.Close()
	}
	t.Fatalf("found no HTTP proxy listening in %s's process %d", a.Name, a.Pid)
	return ""
}

// svNodesBehind sends requests to url until the answers (node IDs) name
// every node of want, and fails on any error.
func svNodesBehind(t *testing.T, client *http.Client, url string, want []string) map[string]int {
	t.Helper()
	seen := map[string]int{}
	covered := func() bool {
		for _, n := range want {
			if seen[n] == 0 {
				return false
			}
		}
		return true
	}
	for i := 0; !covered(); i++ {
		if i == 300 {
			t.Fatalf("after %d requests to %s, answers came from %v; want every node of %v", i, url, seen, want)
		}
		code, body, err := svGet(client, url)
		if err != nil || code != http.StatusOK {
			t.Fatalf("GET %s: %d %q %v", url, code, body, err)
		}
		seen[body]++
	}
	return seen
}

// A proxy runs on every node; requests through any of them reach the
// replicas on every node.
func TestServeProxyOnEveryNode(t *testing.T) {
	c := testcluster.Start(t, testcluster.NodeSpec{CPUs: 1}, testcluster.NodeSpec{CPUs: 1}, testcluster.NodeSpec{CPUs: 1})
	connect(t, c)
	ctx := withTimeout(t, time.Minute)
	addr := svStart(t)
	nodes := svAliveNodes(t, c)
	if len(nodes) != 3 {
		t.Fatalf("live nodes: %v", nodes)
	}
	// One proxy actor per node, on that node, named after it.
	var proxies []protocol.ActorInfo
	c.WaitFor(t, 30*time.Second, func() bool {
		proxies = svActors(t, c, svProxyPrefix)
		return len(proxies) == len(nodes)
	}, "a proxy actor on each of the 3 nodes")
	for _, p := range proxies {
		if p.Name != svProxyPrefix+p.NodeID || !slices.Contains(nodes, p.NodeID) || !p.Detached {
			t.Fatalf("proxy actor %q runs on node %s (detached %v); want one named after its node", p.Name, p.NodeID, p.Detached)
		}
	}

	// Three replicas of one CPU on nodes of one CPU: one on each node.
	if _, err := sv.Run(ctx, svWhereDep.Options(sv.DeploymentConfig{NumReplicas: 3}).Bind(), sv.RunOptions{Name: "where", RoutePrefix: "/where"}); err != nil {
		t.Fatal(err)
	}
	client := svHTTP(t, 20*time.Second)
	// The driver's proxy (Start's address) reaches every node's replica.
	seen := svNodesBehind(t, client, "http://"+addr+"/where", nodes)
	t.Logf("through the driver's proxy %s: answers by node %v", addr, seen)

	// So does each node's own proxy.
	for _, p := range proxies {
		paddr := svProxyAddr(t, client, p)
		seen := svNodesBehind(t, client, "http://"+paddr+"/where", nodes)
		t.Logf("through node %s's proxy %s: answers by node %v", p.NodeID, paddr, seen)
		if code, _, err := svGet(client, "http://"+paddr+"/elsewhere"); err != nil || code != http.StatusNotFound {
			t.Fatalf("an unknown route through %s: %d %v; want 404", paddr, code, err)
		}
	}
	// A node that joins gets a proxy too, which reaches the replicas on
	// the others.
	joined := c.AddNode(t, testcluster.NodeSpec{CPUs: 1})
	var late []protocol.ActorInfo
	c.WaitFor(t, 30*time.Second, func() bool {
		late = svActors(t, c, svProxyPrefix+joined.NodeID)
		return len(late) == 1
	}, "a proxy on the node that joined")
	if late[0].NodeID != joined.NodeID {
		t.Fatalf("the joined node's proxy runs on %s, not %s", late[0].NodeID, joined.NodeID)
	}
	paddr := svProxyAddr(t, client, late[0])
	seen = svNodesBehind(t, client, "http://"+paddr+"/where", nodes)
	t.Logf("through the joined node %s's proxy %s: answers by node %v", joined.NodeID, paddr, seen)

	st, err := sv.GetStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Applications) != 1 || st.Applications[0].Status != "RUNNING" || st.Applications[0].Deployments[0].Running != 3 {
		t.Fatalf("status: %+v", st)
	}
}

// svLoad runs clients that each send requests in turn to url until
// stopped; a failed request is sent again once, and must then succeed.
type svLoad struct {
	stop   chan struct{}
	wg     sync.WaitGroup
	ok     atomic.Int64
	failed atomic.Int64 // first attempts that failed
	twice  atomic.Int64 // requests whose retry failed too
	mu     sync.Mutex
	errs   []string // the first failures, for the test's message
}

func svStartLoad(client *http.Client, url string, clients int) *svLoad {
	l := &svLoad{stop: make(chan struct{})}
	try := func() error {
		code, body, err := svGet(client, url)
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("%d %s", code, strings.TrimSpace(body))
		}
		return err
	}
	for range clients {
		l.wg.Go(func() {
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				err := try()
				if err != nil {
					l.failed.Add(1)
					l.note(err)
					if err = try(); err != nil { // the retry
						l.twice.Add(1)
						l.note(fmt.Errorf("again: %w", err))
					}
				}
				if err == nil {
					l.ok.Add(1)
				}
			}
		})
	}
	return l
}

func (l *svLoad) note(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.errs) < 10 {
		l.errs = append(l.errs, err.Error())
	}
}

func (l *svLoad) end() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// waitOK waits until the load has had k more successful requests.
func (l *svLoad) waitOK(t *testing.T, k int64) {
	t.Helper()
	target := l.ok.Load() + k
	// Polling a counter that the load's goroutines move: there is no
	// event to wait on.
	testcluster.WaitFor(t, 45*time.Second, func() bool { return l.ok.Load() >= target },
		fmt.Sprintf("%d more successful requests (at %d ok, %d failed)", k, l.ok.Load(), l.failed.Load()))
}

func (l *svLoad) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Sprintf("%d ok, %d failed once, %d failed twice; first failures: %q", l.ok.Load(), l.failed.Load(), l.twice.Load(), l.errs)
}

// svReplicasOf returns the deployment's status in application app.
func svDeployment(t *testing.T, ctx context.Context, app string) sv.DeploymentStatus {
	t.Helper()
	st, err := sv.GetStatus(ctx)
	if err != nil {
		t.Fatalf("sv.GetStatus: %v", err)
	}
	for _, a := range st.Applications {
		if a.Name == app && len(a.Deployments) == 1 {
			return a.Deployments[0]
		}
	}
	t.Fatalf("no application %s of one deployment in %+v", app, st)
	return sv.DeploymentStatus{}
}

// A node holding a replica is SIGKILLed under load: few requests fail,
// none twice, the deployment gets its replica back on the nodes left,
// and every later request succeeds.
func TestServeNodeKilledUnderLoad(t *testing.T) {
	// Three one-CPU nodes for two one-CPU replicas: room for the
	// replacement once a node is gone.
	c := testcluster.Start(t, testcluster.NodeSpec{CPUs: 1}, testcluster.NodeSpec{CPUs: 1}, testcluster.NodeSpec{CPUs: 1})
	connect(t, c)
	ctx := withTimeout(t, 2*time.Minute)
	addr := svStart(t) // the head's proxy: the driver submits through the head's node
	// Six clients, fewer than one replica's MaxOngoingRequests (8): the
	// replica left can take the whole load while the other is replaced,
	// so that no request is refused for capacity (a 503 by design).
	if _, err := sv.Run(ctx, svWhereDep.Options(sv.DeploymentConfig{NumReplicas: 2}).Bind(),
		sv.RunOptions{Name: "nodekill"}); err != nil {
		t.Fatal(err)
	}
	// The victim: a node other than the head's that holds a replica (two
	// replicas on distinct one-CPU nodes: at least one is not the head).
	var victim protocol.ActorInfo
	for _, a := range svActors(t, c, svReplicaPrefix+"nodekill:") {
		if a.NodeID != c.HeadNodeID() {
			victim = a
		}
	}
	if victim.Name == "" {
		t.Fatalf("no replica off the head: %+v", svActors(t, c, svReplicaPrefix))
	}
	var victimNode *testcluster.Proc
	for _, p := range c.NodeProcs() {
		if p.NodeID == victim.NodeID {
			victimNode = p
		}
	}
	if victimNode == nil {
		t.Fatalf("no node daemon for node %s", victim.NodeID)
	}

	client := svHTTP(t, 30*time.Second)
	l := svStartLoad(client, "http://"+addr+"/", 6)
	defer l.end()
	l.waitOK(t, 100)
	// The controller (no CPU: anywhere) may be on the victim node too: then
	// it is restarted elsewhere, and status calls fail until it is.
	ctl := svActors(t, c, svControllerName)
	if len(ctl) == 1 && ctl[0].NodeID == victim.NodeID {
		t.Logf("the controller dies with the node too")
	}
	c.KillNode(t, victimNode)
	// The replica is replaced on a live node.
	c.WaitFor(t, 45*time.Second, func() bool {
		st, err := sv.GetStatus(ctx)
		if err != nil || len(st.Applications) != 1 || len(st.Applications[0].Deployments) != 1 {
			return false // the controller restarting
		}
		d := st.Applications[0].Deployments[0]
		if d.Running != 2 || len(d.Replicas) != 2 {
			return false
		}
		for _, r := range d.Replicas {
			if r.ID == victim.Name || r.State != "RUNNING" {
				return false
			}
		}
		return true
	}, "the deployment to run 2 replicas again, without the killed node's")
	l.waitOK(t, 100)
	l.end()
	t.Logf("under the node kill: %s", l)
	// At most the requests in flight on the replica (one per client) and
	// those sent to it before the proxy saw it die fail.
	if l.twice.Load() != 0 || l.failed.Load() > 10 {
		t.Fatalf("after one node was killed: %s", l)
	}
	alive := svAliveNodes(t, c)
	for _, a := range svActors(t, c, svReplicaPrefix+"nodekill:") {
		if !slices.Contains(alive, a.NodeID) {
			t.Fatalf("replica %s on node %s, which is not alive (%v)", a.Name, a.NodeID, alive)
		}
	}
	// Every later request succeeds, and the replicas on both live nodes
	// answer.
	seen := map[string]int{}
	for range 50 {
		code, body, err := svGet(client, "http://"+addr+"/")
		if err != nil || code != http.StatusOK {
			t.Fatalf("after the recovery: %d %q %v", code, body, err)
		}
		seen[body]++
	}
	if seen[victim.NodeID] != 0 {
		t.Fatalf("answers from the dead node: %v", seen)
	}
}

// The controller's worker is SIGKILLed: the applications keep serving
// (replicas and proxies are actors of their own), and the restarted
// controller recovers the applications from the key-value store and
// adopts the running replicas instead of starting others.
func TestServeControllerKilled(t *testing.T) {
	c := testcluster.Start(t, testcluster.NodeSpec{CPUs: 1}, testcluster.NodeSpec{CPUs: 1})
	connect(t, c)
	ctx := withTimeout(t, 2*time.Minute)
	addr := svStart(t)
	if _, err := sv.Run(ctx, svWhereDep.Options(sv.DeploymentConfig{NumReplicas: 2, NumCPUs: 0.5}).Bind(),
		sv.RunOptions{Name: "ctlkill", RoutePrefix: "/ctl"}); err != nil {
		t.Fatal(err)
	}
	before := svDeployment(t, ctx, "ctlkill")
	ids := func(d sv.DeploymentStatus) []string {
		var out []string
		for _, r := range d.Replicas {
			out = append(out, r.ID+" "+r.State)
		}
		slices.Sort(out)
		return out
	}
	if before.Running != 2 || len(before.Replicas) != 2 {
		t.Fatalf("before: %+v", before)
	}
	pids := func(prefix string) map[string]int {
		m := map[string]int{}
		for _, a := range svActors(t, c, prefix) {
			m[a.Name] = a.Pid
		}
		return m
	}
	c.WaitFor(t, 30*time.Second, func() bool { return len(pids(svProxyPrefix)) == 2 }, "a proxy on each node")
	replicaPids, proxyPids := pids(svReplicaPrefix), pids(svProxyPrefix)
	ctl := svActors(t, c, svControllerName)
	if len(ctl) != 1 || ctl[0].Pid == 0 || ctl[0].MaxRestarts != -1 {
		t.Fatalf("the controller actor: %+v", ctl)
	}

	client := svHTTP(t, 30*time.Second)
	l := svStartLoad(client, "http://"+addr+"/ctl", 4)
	defer l.end()
	l.waitOK(t, 50)
	if err := syscall.Kill(ctl[0].Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testcluster.WaitFor(t, 10*time.Second, func() bool { return !testcluster.Alive(ctl[0].Pid) }, "the controller's worker to die")
	// The applications serve while the controller is down and coming
	// back.
	l.waitOK(t, 100)
	c.WaitFor(t, 45*time.Second, func() bool {
		a := svActors(t, c, svControllerName)
		return len(a) == 1 && a[0].NumRestarts >= 1 && a[0].Pid != ctl[0].Pid
	}, "the controller to be restarted")
	// The restarted controller knows the application and the same two
	// replicas, running.
	c.WaitFor(t, 30*time.Second, func() bool {
		d := svDeployment(t, ctx, "ctlkill")
		return d.Running == 2 && slices.Equal(ids(d), ids(before))
	}, fmt.Sprintf("the restarted controller to adopt the replicas %v", ids(before)))
	// It reconciles and deploys: a second application runs (Run waits
	// for its replica), and by then the first one's deployment has been
	// reconciled too, with no replica started beside the adopted ones.
	// (Its route is not checked here: see TestServeRoutesAfterControllerRestart.)
	if _, err := sv.Run(ctx, svWhereDep.Options(sv.DeploymentConfig{NumReplicas: 1, NumCPUs: 0.25}).Bind(),
		sv.RunOptions{Name: "after", RoutePrefix: "/after"}); err != nil {
		t.Fatal(err)
	}
	l.waitOK(t, 50)
	l.end()
	t.Logf("through the controller's restart: %s", l)
	if l.failed.Load() != 0 {
		t.Fatalf("requests failed while the controller was down: %s", l)
	}
	if d := svDeployment(t, ctx, "ctlkill"); d.Running != 2 || !slices.Equal(ids(d), ids(before)) {
		t.Fatalf("after the restart: replicas %v, want %v", ids(d), ids(before))
	}
	for name, pid := range pids(svReplicaPrefix + "ctlkill:") {
		if replicaPids[name] != pid {
			t.Fatalf("replica %s: pid %d, was %d (restarted or started anew)", name, pid, replicaPids[name])
		}
	}
	if got := pids(svProxyPrefix); !maps.Equal(got, proxyPids) {
		t.Fatalf("proxies %v, were %v", got, proxyPids)
	}
}

// The restarted controller's route table reaches the proxies. Its
// version counter starts again near zero, and a proxy's watcher applies a
// table only when its version differs from the last one it applied: when
// the new controller has reached that same number by the watcher's next
// poll (it retries 200 ms after the error), the proxy keeps the dead
// controller's table for as long as nothing else changes. Here the
// application's only replica died unnoticed before the controller did
// (no request, and a health check 10 s away): the old table is at
// version 2 (deploy, replica up) with the dead replica, and the new
// controller is at version 2 too once it has adopted the application
// (1) and started a replacement (2), within the watcher's 200 ms.
func TestServeRoutesAfterControllerRestart(t *testing.T) {
	c := testcluster.Start(t, testcluster.NodeSpec{CPUs: 2})
	connect(t, c)
	ctx := withTimeout(t, time.Minute)
	addr := svStart(t)
	if _, err := sv.Run(ctx, svWhereDep.Options(sv.DeploymentConfig{NumReplicas: 1, NumCPUs: 0.5}).Bind(),
		sv.RunOptions{Name: "stale", RoutePrefix: "/stale"}); err != nil {
		t.Fatal(err)
	}
	client := svHTTP(t, 20*time.Second)
	if code, body, err := svGet(client, "http://"+addr+"/stale"); err != nil || code != http.StatusOK {
		t.Fatalf("before: %d %q %v", code, body, err)
	}
	rep := svActors(t, c, svReplicaPrefix+"stale:")
	ctl := svActors(t, c, svControllerName)
	if len(rep) != 1 || len(ctl) != 1 {
		t.Fatalf("replicas %+v, controller %+v", rep, ctl)
	}
	if err := syscall.Kill(rep[0].Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.WaitFor(t, 20*time.Second, func() bool { return len(svActors(t, c, svReplicaPrefix+"stale:")) == 0 },
		"the head to see the replica dead")
	if err := syscall.Kill(ctl[0].Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.WaitFor(t, 30*time.Second, func() bool {
		a := svActors(t, c, svControllerName)
		return len(a) == 1 && a[0].NumRestarts >= 1 && a[0].Pid != ctl[0].Pid
	}, "the controller to be restarted")
	c.WaitFor(t, 30*time.Second, func() bool {
		d := svDeployment(t, ctx, "stale")
		return d.Running == 1 && len(d.Replicas) == 1
	}, "the restarted controller to run a new replica")
	// The proxy learns of the new replica by its long poll: within
	// milliseconds, or a few seconds at most (the poll's timeout).
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, body, err := svGet(client, "http://"+addr+"/stale")
		if err == nil && code == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the proxy still answers %d %q %v, %v after the new replica ran", code, body, err, 15*time.Second)
		}
		time.Sleep(50 * time.Millisecond) // polling the proxy: there is no event to wait on
	}
}

// A restarted controller adopts a deployment's replica whatever its
// number. Replica numbers only grow (each start takes the next: rolling
// updates and replacements), but adopt probes the names numbered below
// 4*NumReplicas+16 only: after 20 updates of a one-replica deployment its
// replica is number 20, which a restarted controller does not find. It
// starts another, and the old one, detached, runs on unseen for ever.
func TestServeControllerAdoptsLateReplicas(t *testing.T) {
	c := testcluster.Start(t, testcluster.NodeSpec{CPUs: 2})
	connect(t, c)
	ctx := withTimeout(t, time.Minute)
	svStart(t)
	// 21 versions: the replica of the last is number 20 (each rolling
	// update starts the new replica under the next number).
	for v := range 21 {
		if _, err := sv.Run(ctx, svIngressDep.Options(sv.DeploymentConfig{NumReplicas: 1, Resources: map[string]float64{}}).Bind(
			sv.DeploymentHandle{App: "late", Deployment: fmt.Sprint(v)}), sv.RunOptions{Name: "late", RoutePrefix: "/late"}); err != nil {
			t.Fatalf("version %d: %v", v, err)
		}
	}
	before := svDeployment(t, ctx, "late")
	if len(before.Replicas) != 1 || before.Replicas[0].ID != svReplicaPrefix+"late:itest.serve.ingress:20" {
		t.Fatalf("after 21 versions: %+v", before.Replicas)
	}
	ctl := svActors(t, c, svControllerName)
	if len(ctl) != 1 {
		t.Fatalf("controller: %+v", ctl)
	}
	if err := syscall.Kill(ctl[0].Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.WaitFor(t, 30*time.Second, func() bool {
		a := svActors(t, c, svControllerName)
		return len(a) == 1 && a[0].NumRestarts >= 1 && a[0].Pid != ctl[0].Pid
	}, "the controller to be restarted")
	c.WaitFor(t, 30*time.Second, func() bool { return svDeployment(t, ctx, "late").Running == 1 },
		"the restarted controller to report the deployment running")
	after := svDeployment(t, ctx, "late")
	var alive []string
	for _, a := range svActors(t, c, svReplicaPrefix+"late:") {
		alive = append(alive, a.Name)
	}
	if len(after.Replicas) != 1 || after.Replicas[0].ID != before.Replicas[0].ID || len(alive) != 1 {
		t.Fatalf("after the restart: status replicas %+v, live replica actors %v; want only %s, adopted", after.Replicas, alive, before.Replicas[0].ID)
	}
	// `rayo serve status` shows what the restarted controller published.
	var last string
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := c.Rayo(t, "serve", "status", "--temp-dir", c.TempDir())
		last = fmt.Sprint(out, err)
		if err == nil && strings.Contains(out, "application late") && strings.Contains(out, before.Replicas[0].ID) && strings.Contains(out, "replicas 1/1") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rayo serve status never showed the adopted replica; last:\n%s", last)
		}
		time.Sleep(100 * time.Millisecond) // polling the published status
	}
	out, err := c.Rayo(t, "serve", "status", "--temp-dir", c.TempDir(), "--format", "json")
	var st sv.Status
	if err != nil || json.Unmarshal([]byte(out), &st) != nil || len(st.Applications) != 1 || st.Applications[0].Name != "late" {
		t.Fatalf("rayo serve status --format json: %v\n%s", err, out)
	}
}

// A controller restarted in the middle of a rolling update finishes it.
// adopt marks every replica it finds with the deployment's current
// version: the old version's replica counts as updated, and with the new
// one (still loading) there is one replica too many, of which the last,
// the new one, is removed: the old code serves on, with a status that
// says the update is done.
func TestServeControllerKilledDuringRollingUpdate(t *testing.T) {
	c := testcluster.Start(t, testcluster.NodeSpec{CPUs: 2})
	connect(t, c)
	ctx := withTimeout(t, time.Minute)
	addr := svStart(t)
	opts := sv.RunOptions{Name: "roll", RoutePrefix: "/roll"}
	if _, err := sv.Run(ctx, svSlowStartDep.Bind("v1", time.Duration(0)), opts); err != nil {
		t.Fatal(err)
	}
	// v2's replica takes 4 s to start: Run gives up waiting at once, the
	// update goes on.
	opts.Wait = 100 * time.Millisecond
	if _, err := sv.Run(ctx, svSlowStartDep.Bind("v2", 4*time.Second), opts); !errors.Is(err, sv.ErrUnavailable) {
		t.Fatalf("Run v2: %v; want ErrUnavailable (still starting)", err)
	}
	c.WaitFor(t, 20*time.Second, func() bool {
		for _, a := range c.Status(t).Actors {
			if a.Name == svReplicaPrefix+"roll:itest.serve.slowstart:1" {
				return true
			}
		}
		return false
	}, "v2's replica to be created")
	ctl := svActors(t, c, svControllerName)
	if len(ctl) != 1 {
		t.Fatalf("controller: %+v", ctl)
	}
	if err := syscall.Kill(ctl[0].Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.WaitFor(t, 30*time.Second, func() bool {
		a := svActors(t, c, svControllerName)
		return len(a) == 1 && a[0].NumRestarts >= 1 && a[0].Pid != ctl[0].Pid
	}, "the controller to be restarted")
	// The update finishes: v2 answers every request.
	client := svHTTP(t, 20*time.Second)
	deadline := time.Now().Add(30 * time.Second)
	for streak := 0; streak < 20; {
		code, body, err := svGet(client, "http://"+addr+"/roll")
		if err == nil && code == http.StatusOK && body == "v2" {
			streak++
			continue
		}
		streak = 0
		if time.Now().After(deadline) {
			t.Fatalf("30 s after the restart the application answers %d %q %v; status %+v", code, body, err, svDeployment(t, ctx, "roll"))
		}
		time.Sleep(50 * time.Millisecond) // polling the application: there is no event to wait on
	}
}

// An ingress on one node calls a model on another through a handle, over
// HTTP and from the driver's handle.
func TestServeCompositionAcrossNodes(t *testing.T) {
	c := testcluster.Start(t, testcluster.NodeSpec{CPUs: 1},
		testcluster.NodeSpec{CPUs: 1, Resources: map[string]float64{"serve_ingress": 1}},
		testcluster.NodeSpec{CPUs: 1, Resources: map[string]float64{"serve_model": 1}})
	connect(t, c)
	ctx := withTimeout(t, time.Minute)
	addr := svStart(t)
	ingressNode, modelNode := c.NodeIDWithResource(t, "serve_ingress"), c.NodeIDWithResource(t, "serve_model")
	h, err := sv.Run(ctx, svIngressDep.Bind(svModelDep.Bind(3)), sv.RunOptions{Name: "composed", RoutePrefix: "/composed"})
	if err != nil {
		t.Fatal(err)
	}
	client := svHTTP(t, 20*time.Second)
	for x := range 5 {
		code, body, err := svGet(client, fmt.Sprintf("http://%s/composed?x=%d", addr, x))
		if err != nil || code != http.StatusOK {
			t.Fatalf("GET /composed?x=%d: %d %q %v", x, code, body, err)
		}
		var hop svHop
		if err := json.Unmarshal([]byte(body), &hop); err != nil {
			t.Fatalf("%q: %v", body, err)
		}
		if hop != (svHop{Y: 3 * x, IngressNode: ingressNode, ModelNode: modelNode}) {
			t.Fatalf("x=%d: %+v; want y %d, the ingress on %s and the model on %s", x, hop, 3*x, ingressNode, modelNode)
		}
	}
	if code, body, err := svGet(client, "http://"+addr+"/composed?x=nan"); err != nil || code != http.StatusBadRequest {
		t.Fatalf("a bad request: %d %q %v", code, body, err)
	}
	// The driver's handle to the ingress: its typed method goes the same
	// two hops.
	hop, err := sv.Result[svHop](ctx, h.Call(ctx, "Route", 7))
	if err != nil || hop != (svHop{Y: 21, IngressNode: ingressNode, ModelNode: modelNode}) {
		t.Fatalf("handle call: %+v %v", hop, err)
	}
	// A call to a method the ingress lacks fails with serve's sentinel
	// text, and the application still serves.
	if _, err := sv.Result[svHop](ctx, h.Call(ctx, "Nope")); err == nil || !strings.Contains(err.Error(), "no method") {
		t.Fatalf("an unknown method: %v", err)
	}
	if _, err := sv.Result[svHop](ctx, sv.GetDeploymentHandle("composed", "itest.serve.model").Call(ctx, "Predict", 2)); err != nil {
		t.Fatalf("the model's handle from the driver: %v", err)
	}
	if _, err := sv.Result[svHop](ctx, sv.GetDeploymentHandle("composed", "nobody").Call(ctx, "Predict", 2)); !errors.Is(err, sv.ErrNotFound) {
		t.Fatalf("a handle to no deployment: %v; want ErrNotFound", err)
	}
	// Shutdown stops every actor of Serve's, on every node.
	if err := sv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if left := svActors(t, c, "rayo.serve."); len(left) != 0 {
		t.Fatalf("live after Shutdown: %+v", left)
	}
	if _, err := sv.GetStatus(ctx); !errors.Is(err, sv.ErrNotStarted) {
		t.Fatalf("GetStatus after Shutdown: %v; want ErrNotStarted", err)
	}
}

package integration_test

// Placement groups, scheduling strategies, label selectors and GPUs, end
// to end on a three-node cluster (the head's node and two node daemons).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/internal/cli"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/sched"
	"github.com/rayo-dev/rayo/internal/testcluster"
)

// ---- tasks and actors (package level: the workers register them too) ----

// plPinger is the "itest.pl.Pinger" actor: it says where it runs and
// which GPUs it sees.
type plPinger struct{}

var (
	// plWhere says on which node it ran.
	plWhere = rayo.Register[string]("itest.pl.where", func() string { return rayo.NodeID() })

	// plBlock announces that it runs (a file named after its node in
	// startedDir), then waits until release exists, and says where it ran.
	plBlock = rayo.Register[string]("itest.pl.block", func(ctx context.Context, startedDir, release string) (string, error) {
		node := rayo.NodeID()
		f, err := os.CreateTemp(startedDir, node+"_*")
		if err != nil {
			return "", err
		}
		_ = f.Close()
		ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		for {
			if _, err := os.Stat(release); err == nil {
				return node, nil
			}
			select {
			case <-ctx.Done():
				return "", ctx.Err()
			case <-time.After(5 * time.Millisecond):
			}
		}
	})

	// plCuda returns CUDA_VISIBLE_DEVICES as the task sees it.
	plCuda = rayo.Register[string]("itest.pl.cuda", func() string { return os.Getenv("CUDA_VISIBLE_DEVICES") })

	// plCudaBarrier waits until n callers have arrived in dir (so that
	// they all run at once), then returns CUDA_VISIBLE_DEVICES.
	plCudaBarrier = rayo.Register[string]("itest.pl.cudaBarrier", func(ctx context.Context, dir string, n int) (string, error) {
		if err := plBarrier(ctx, dir, n); err != nil {
			return "", err
		}
		return os.Getenv("CUDA_VISIBLE_DEVICES"), nil
	})

	plPingerActor = rayo.RegisterActor[plPinger]("itest.pl.Pinger", func() *plPinger { return &plPinger{} })
	plPingerNode  = rayo.RegisterMethod[string](plPingerActor, "Node", func(*plPinger) string { return rayo.NodeID() })
	plPingerCuda  = rayo.RegisterMethod[string](plPingerActor, "Cuda", func(*plPinger) string {
		return os.Getenv("CUDA_VISIBLE_DEVICES")
	})
)

// plBarrier returns once n callers have created a file in dir, or fails
// when ctx (bounded to two minutes) ends first.
func plBarrier(ctx context.Context, dir string, n int) error {
	f, err := os.CreateTemp(dir, "arrived-")
	if err != nil {
		return err
	}
	_ = f.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		if len(entries) >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// ---- the cluster ----

// plCluster is the three-node cluster of these tests, 2 CPUs each: the
// head's node (zone=a), node b (zone=b) and node c (zone=c, gpu_node=yes,
// 2 GPUs). Nodes a and b are told they have no GPU, so that the tests mean
// the same on a machine with real ones.
type plCluster struct {
	c       *testcluster.Cluster
	a, b, g string // node IDs: zone a (the head's), b, c (the GPU node)
	bProc   *testcluster.Proc
	gProc   *testcluster.Proc
}

func startPlCluster(t *testing.T) *plCluster {
	t.Helper()
	noGPU := []string{"--num-gpus", "0"}
	c := testcluster.Start(t,
		testcluster.NodeSpec{CPUs: 2, Labels: map[string]string{"zone": "a"}, ExtraArgs: noGPU},
		testcluster.NodeSpec{CPUs: 2, Labels: map[string]string{"zone": "b"}, ExtraArgs: noGPU},
		testcluster.NodeSpec{CPUs: 2, Labels: map[string]string{"zone": "c", "gpu_node": "yes"},
			ExtraArgs: []string{"--num-gpus", "2"}})
	pc := &plCluster{c: c, a: c.HeadNodeID()}
	for _, p := range c.NodeProcs() {
		switch p.Spec.Labels["zone"] {
		case "b":
			pc.b, pc.bProc = p.NodeID, p
		case "c":
			pc.g, pc.gProc = p.NodeID, p
		}
	}
	if pc.a == "" || pc.b == "" || pc.g == "" {
		t.Fatalf("node IDs: a %q, b %q, c %q", pc.a, pc.b, pc.g)
	}
	t.Logf("nodes: a (head) %s, b %s, c (gpu) %s", pc.a, pc.b, pc.g)
	t.Cleanup(func() {
		if t.Failed() {
			out, err := c.Rayo(t, "status", "--address", c.Address(), "--token", c.Token())
			t.Logf("rayo status (%v):\n%s", err, out)
		}
	})
	return pc
}

// name says which node an ID is, for messages.
func (pc *plCluster) name(id string) string {
	switch id {
	case pc.a:
		return "a(" + id + ")"
	case pc.b:
		return "b(" + id + ")"
	case pc.g:
		return "c(" + id + ")"
	case "":
		return "<none>"
	}
	return "?(" + id + ")"
}

func (pc *plCluster) names(ids []string) string {
	var out []string
	for _, id := range ids {
		out = append(out, pc.name(id))
	}
	return "[" + strings.Join(out, " ") + "]"
}

// waitIdle waits until the head sees every alive node's CPUs and GPUs
// free and no bundle resource left: the head places groups on its view,
// so a test that counts nodes starts from an idle one.
func waitIdle(t *testing.T, c *testcluster.Cluster) {
	t.Helper()
	c.WaitFor(t, 30*time.Second, func() bool {
		for _, n := range c.Status(t).Nodes {
			if !n.Alive {
				continue
			}
			for name, total := range n.Info.Total {
				if strings.Contains(name, "_group_") {
					return false
				}
				if (name == "CPU" || name == "GPU") && n.Available[name] != total {
					return false
				}
			}
		}
		return true
	}, "every node's CPUs and GPUs to be free in the head's view")
}

// plStatus runs `rayo status --format json`.
func plStatus(t *testing.T, c *testcluster.Cluster) cli.StatusReport {
	t.Helper()
	out, err := c.Rayo(t, "status", "--address", c.Address(), "--token", c.Token(), "--format", "json")
	if err != nil {
		t.Fatalf("rayo status --format json: %v\n%s", err, out)
	}
	var rep cli.StatusReport
	if err := json.Unmarshal([]byte(out[max(strings.Index(out, "{"), 0):]), &rep); err != nil {
		t.Fatalf("rayo status --format json printed something else than JSON: %v\n%s", err, out)
	}
	return rep
}

// statusPG returns the group's entry in `rayo status --format json`.
func statusPG(rep cli.StatusReport, id string) (cli.PGReport, bool) {
	for _, g := range rep.PlacementGroups {
		if g.PGID == id {
			return g, true
		}
	}
	return cli.PGReport{}, false
}

// plList runs `rayo list placement-groups --format json` with extra args.
func plList(t *testing.T, c *testcluster.Cluster, args ...string) []map[string]any {
	t.Helper()
	out, err := c.Rayo(t, append([]string{"list", "placement-groups", "--address", c.Address(), "--token", c.Token(),
		"--format", "json"}, args...)...)
	if err != nil {
		t.Fatalf("rayo list placement-groups %v: %v\n%s", args, err, out)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out[max(strings.Index(out, "["), 0):]), &rows); err != nil {
		t.Fatalf("rayo list placement-groups --format json printed something else than JSON: %v\n%s", err, out)
	}
	return rows
}

// newPG creates a group and, when ready is true, waits until it is.
func newPG(t *testing.T, bundles []map[string]float64, st rayo.PlacementStrategy, ready bool, opts ...rayo.PlacementGroupOption) *rayo.PlacementGroup {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pg, err := rayo.NewPlacementGroup(ctx, bundles, st, opts...)
	if err != nil {
		t.Fatalf("NewPlacementGroup(%v, %v): %v", bundles, st, err)
	}
	if ready {
		if err := pg.Ready(ctx); err != nil {
			t.Fatalf("%v group %s of %v: Ready: %v", st, pg.ID(), bundles, err)
		}
	}
	return pg
}

// bundleNodes returns where the group's bundles are.
func bundleNodes(t *testing.T, pg *rayo.PlacementGroup) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nodes, err := pg.BundleNodes(ctx)
	if err != nil {
		t.Fatalf("BundleNodes of %s: %v", pg.ID(), err)
	}
	if len(nodes) != pg.BundleCount() {
		t.Fatalf("BundleNodes of %s: %d entries for %d bundles", pg.ID(), len(nodes), pg.BundleCount())
	}
	return nodes
}

// notReady checks that the group does not become ready within d.
func notReady(t *testing.T, pg *rayo.PlacementGroup, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := pg.Ready(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("group %s: Ready returned %v; want it still pending after %v", pg.ID(), err, d)
	}
}

func removePG(t *testing.T, pg *rayo.PlacementGroup) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := rayo.RemovePlacementGroup(ctx, pg); err != nil {
		t.Fatalf("RemovePlacementGroup(%s): %v", pg.ID(), err)
	}
}

func distinct(ids []string) int {
	set := map[string]bool{}
	for _, id := range ids {
		set[id] = true
	}
	return len(set)
}

func ones(n int, cpu float64) []map[string]float64 {
	out := make([]map[string]float64, n)
	for i := range out {
		out[i] = map[string]float64{"CPU": cpu}
	}
	return out
}

// startedNodes lists the nodes of the plBlock tasks that announced
// themselves in dir.
func startedNodes(dir string) []string {
	entries, _ := os.ReadDir(dir)
	var out []string
	for _, e := range entries {
		if node, _, ok := strings.Cut(e.Name(), "_"); ok {
			out = append(out, node)
		}
	}
	return out
}

// ---- tests ----

// Each strategy puts three (STRICT_PACK: two) 1-CPU bundles where it
// should on three 2-CPU nodes, and a task in each bundle runs on the
// bundle's node.
func TestPlacementStrategies(t *testing.T) {
	pc := startPlCluster(t)
	c := pc.c
	connect(t, c)
	for _, tc := range []struct {
		st      rayo.PlacementStrategy
		bundles int
		nodes   int // distinct nodes the bundles must end on
	}{
		{rayo.PACK, 3, 2}, // as few as 2-CPU nodes allow
		{rayo.SPREAD, 3, 3},
		{rayo.STRICT_PACK, 2, 1},
		{rayo.STRICT_SPREAD, 3, 3},
	} {
		t.Run(tc.st.String(), func(t *testing.T) {
			waitIdle(t, c)
			pg := newPG(t, ones(tc.bundles, 1), tc.st, true, rayo.PlacementGroupName("itest-"+tc.st.String()))
			nodes := bundleNodes(t, pg)
			t.Logf("%v: bundles on %s", tc.st, pc.names(nodes))
			for i, n := range nodes {
				if n == "" {
					t.Fatalf("%v: bundle %d of a ready group is not placed: %s", tc.st, i, pc.names(nodes))
				}
				if n != pc.a && n != pc.b && n != pc.g {
					t.Fatalf("%v: bundle %d on unknown node %s", tc.st, i, n)
				}
			}
			if got := distinct(nodes); got != tc.nodes {
				t.Fatalf("%v: %d bundles on %d distinct nodes %s; want %d", tc.st, tc.bundles, got, pc.names(nodes), tc.nodes)
			}
			// rayo status agrees.
			g, ok := statusPG(plStatus(t, c), pg.ID())
			if !ok || g.State != protocol.PGCreated || g.Strategy != tc.st.String() || g.Name != "itest-"+tc.st.String() ||
				g.Infeasible || len(g.Bundles) != tc.bundles {
				t.Fatalf("rayo status shows the group as %+v (found %v)", g, ok)
			}
			for _, b := range g.Bundles {
				if b.NodeID != nodes[b.Index] || b.Resources["CPU"] != 1 {
					t.Fatalf("rayo status: bundle %d %v on %s; BundleNodes says %s", b.Index, b.Resources, pc.name(b.NodeID), pc.name(nodes[b.Index]))
				}
			}
			// A task in each bundle runs on its node; one in any bundle on
			// one of them.
			refs := make([]rayo.ObjectRef[string], len(nodes))
			for i := range nodes {
				refs[i] = plWhere.Options(rayo.InPlacementGroup(pg, i)).Remote()
			}
			for i, ref := range refs {
				if got := mustGet(t, ref, fmt.Sprintf("the task in bundle %d", i)); got != nodes[i] {
					t.Errorf("%v: the task in bundle %d ran on %s, the bundle is on %s", tc.st, i, pc.name(got), pc.name(nodes[i]))
				}
			}
			if got := mustGet(t, plWhere.Options(rayo.InPlacementGroup(pg, -1)).Remote(), "the task in any bundle"); !slices.Contains(nodes, got) {
				t.Errorf("%v: the task in any bundle ran on %s, outside the group's nodes %s", tc.st, pc.name(got), pc.names(nodes))
			}
			removePG(t, pg)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := pg.Ready(ctx); !errors.Is(err, rayo.ErrPlacementGroupRemoved) {
				t.Fatalf("Ready of a removed group: %v; want ErrPlacementGroupRemoved", err)
			}
		})
	}
}

// STRICT_SPREAD with four bundles on three nodes waits, infeasible, until
// a fourth node joins.
func TestPlacementInfeasibleUntilNodeJoins(t *testing.T) {
	pc := startPlCluster(t)
	c := pc.c
	connect(t, c)
	pg := newPG(t, ones(4, 1), rayo.STRICT_SPREAD, false, rayo.PlacementGroupName("itest-four"))
	notReady(t, pg, 500*time.Millisecond)
	var g cli.PGReport
	c.WaitFor(t, 30*time.Second, func() bool {
		var ok bool
		g, ok = statusPG(plStatus(t, c), pg.ID())
		return ok && g.Infeasible
	}, "rayo status to show the group infeasible")
	if g.State != protocol.PGPending || g.Strategy != "STRICT_SPREAD" || g.Name != "itest-four" || len(g.Bundles) != 4 {
		t.Fatalf("rayo status shows the infeasible group as %+v", g)
	}
	for _, b := range g.Bundles {
		if b.NodeID != "" {
			t.Fatalf("rayo status: bundle %d of the infeasible group is on %s", b.Index, b.NodeID)
		}
	}
	for i, n := range bundleNodes(t, pg) {
		if n != "" {
			t.Fatalf("BundleNodes: bundle %d of the infeasible group is on %s", i, n)
		}
	}
	// Nothing is held: every node's CPUs are free.
	waitIdle(t, c)

	d := c.AddNode(t, testcluster.NodeSpec{CPUs: 2, Labels: map[string]string{"zone": "d"}, ExtraArgs: []string{"--num-gpus", "0"}})
	ctx := withTimeout(t, time.Minute)
	if err := pg.Ready(ctx); err != nil {
		t.Fatalf("Ready after a fourth node joined: %v", err)
	}
	nodes := bundleNodes(t, pg)
	t.Logf("bundles on %s (new node %s)", pc.names(nodes), d.NodeID)
	if distinct(nodes) != 4 || !slices.Contains(nodes, d.NodeID) || slices.Contains(nodes, "") {
		t.Fatalf("STRICT_SPREAD over four nodes: bundles on %s; want four distinct, one the new node %s", pc.names(nodes), d.NodeID)
	}
	if g, ok := statusPG(plStatus(t, c), pg.ID()); !ok || g.State != protocol.PGCreated || g.Infeasible {
		t.Fatalf("rayo status after the node joined: %+v (found %v)", g, ok)
	}
	for i := range nodes {
		if got := mustGet(t, plWhere.Options(rayo.InPlacementGroup(pg, i)).Remote(), "a task in the group"); got != nodes[i] {
			t.Errorf("the task in bundle %d ran on %s, the bundle is on %s", i, got, nodes[i])
		}
	}
}

// A group is reserved all or nothing: a group with a bundle that fits and
// one that can never fit holds nothing.
func TestPlacementAtomic(t *testing.T) {
	pc := startPlCluster(t)
	c := pc.c
	connect(t, c)
	groups := []*rayo.PlacementGroup{
		newPG(t, []map[string]float64{{"CPU": 1}, {"CPU": 100}}, rayo.PACK, false),
		// Each bundle fits a node, the four do not fit the cluster.
		newPG(t, ones(4, 2), rayo.SPREAD, false),
	}
	c.WaitFor(t, 30*time.Second, func() bool {
		rep := plStatus(t, c)
		for _, pg := range groups {
			if g, ok := statusPG(rep, pg.ID()); !ok || !g.Infeasible {
				return false
			}
		}
		return true
	}, "rayo status to show both groups infeasible")
	rep := plStatus(t, c)
	for _, pg := range groups {
		g, _ := statusPG(rep, pg.ID())
		if g.State != protocol.PGPending {
			t.Errorf("group %s is %s, want PENDING", pg.ID(), g.State)
		}
		for _, b := range g.Bundles {
			if b.NodeID != "" {
				t.Errorf("group %s: bundle %d %v is reserved on %s", pg.ID(), b.Index, b.Resources, pc.name(b.NodeID))
			}
		}
	}
	if u := rep.Used["CPU"]; u != 0 {
		t.Errorf("rayo status: %v CPUs used with only unplaceable groups", u)
	}
	for name := range rep.Total {
		if strings.Contains(name, "_group_") {
			t.Errorf("rayo status: the cluster offers bundle resource %s", name)
		}
	}
	// A task that needs all of a node's CPUs runs on every node, all at
	// once.
	dir, release := t.TempDir(), filepath.Join(t.TempDir(), "release")
	t.Cleanup(func() { _ = os.WriteFile(release, nil, 0o644) })
	ids := []string{pc.a, pc.b, pc.g}
	var refs []rayo.ObjectRef[string]
	for _, id := range ids {
		refs = append(refs, plBlock.Options(rayo.NumCPUs(2), rayo.NodeAffinity(id, false)).Remote(dir, release))
	}
	c.WaitFor(t, time.Minute, func() bool { return distinct(startedNodes(dir)) == 3 },
		"a 2-CPU task to run on each of the three nodes at once")
	touch(t, release)
	for i, ref := range refs {
		if got := mustGet(t, ref, "a 2-CPU task"); got != ids[i] {
			t.Errorf("the 2-CPU task pinned to %s ran on %s", pc.name(ids[i]), pc.name(got))
		}
	}
	for _, pg := range groups {
		if n := bundleNodes(t, pg); slices.ContainsFunc(n, func(s string) bool { return s != "" }) {
			t.Errorf("group %s: bundles on %s after all", pg.ID(), pc.names(n))
		}
		removePG(t, pg)
	}
	waitIdle(t, c)
}

// Removing a group ends the actor and the task in it and frees the
// resources.
func TestPlacementRemoval(t *testing.T) {
	pc := startPlCluster(t)
	c := pc.c
	connect(t, c)
	ctx := withTimeout(t, 2*time.Minute)
	pg := newPG(t, ones(2, 1), rayo.STRICT_PACK, true)
	nodes := bundleNodes(t, pg)
	node := nodes[0]
	if node == "" || nodes[1] != node {
		t.Fatalf("STRICT_PACK bundles on %s", pc.names(nodes))
	}
	actor, err := plPingerActor.Options(rayo.InPlacementGroup(pg, 0), rayo.NumCPUs(1)).New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := actor.Ready(ctx); err != nil {
		t.Fatalf("the actor in the group: %v", err)
	}
	if got := mustGet(t, plPingerNode.Remote(actor), "the actor's node"); got != node {
		t.Fatalf("the actor in bundle 0 runs on %s; the bundle is on %s", pc.name(got), pc.name(node))
	}
	dir, release := t.TempDir(), filepath.Join(t.TempDir(), "release")
	t.Cleanup(func() { _ = os.WriteFile(release, nil, 0o644) })
	running := plBlock.Options(rayo.InPlacementGroup(pg, 1), rayo.MaxRetries(0)).Remote(dir, release)
	c.WaitFor(t, time.Minute, func() bool { return len(startedNodes(dir)) == 1 }, "the task in bundle 1 to start")
	if got := startedNodes(dir)[0]; got != node {
		t.Fatalf("the task in bundle 1 runs on %s; the bundle is on %s", pc.name(got), pc.name(node))
	}
	// The group holds the node's CPUs: a 2-CPU task there waits.
	full := plWhere.Options(rayo.NumCPUs(2), rayo.NodeAffinity(node, false)).Remote()
	if _, err := getT(t, full, 300*time.Millisecond); !errors.Is(err, rayo.ErrGetTimeout) {
		t.Fatalf("a 2-CPU task ran on a node whose CPUs the group holds: %v", err)
	}

	removePG(t, pg)
	_, err = getT(t, plPingerNode.Remote(actor), time.Minute)
	if !errors.Is(err, rayo.ErrActorDied) {
		t.Fatalf("a call to the actor of a removed group: %v; want ErrActorDied", err)
	}
	t.Logf("the actor's call after removal: %s: %v", diedCause(err), err)
	_, err = getT(t, running, time.Minute)
	if err == nil {
		t.Fatalf("the task running in the removed group completed")
	}
	t.Logf("the task running at removal: %v", err)
	if got, err := getT(t, full, time.Minute); err != nil || got != node {
		t.Fatalf("after removal, the 2-CPU task on %s: %q, %v", pc.name(node), got, err)
	}
	if err := pg.Ready(ctx); !errors.Is(err, rayo.ErrPlacementGroupRemoved) {
		t.Fatalf("Ready of a removed group: %v", err)
	}
	if _, ok := statusPG(plStatus(t, c), pg.ID()); ok {
		t.Fatalf("rayo status still shows the removed group")
	}
	waitIdle(t, c)
}

// Work that names a removed group fails with ErrPlacementGroupRemoved
// instead of waiting forever: the retry of a task the removal killed, a
// task submitted afterwards, an actor created afterwards.
func TestPlacementRemovedGroupWorkFails(t *testing.T) {
	pc := startPlCluster(t)
	c := pc.c
	connect(t, c)
	pg := newPG(t, ones(2, 1), rayo.STRICT_PACK, true)
	dir, release := t.TempDir(), filepath.Join(t.TempDir(), "release")
	t.Cleanup(func() { _ = os.WriteFile(release, nil, 0o644) })
	running := plBlock.Options(rayo.InPlacementGroup(pg, 1)).Remote(dir, release) // default retries
	c.WaitFor(t, time.Minute, func() bool { return len(startedNodes(dir)) == 1 }, "the task in bundle 1 to start")
	removePG(t, pg)
	if _, err := getT(t, running, 30*time.Second); !errors.Is(err, rayo.ErrPlacementGroupRemoved) {
		t.Errorf("a task (with retries) running in the group at removal: %v; want ErrPlacementGroupRemoved", err)
	}
	if _, err := getT(t, plWhere.Options(rayo.InPlacementGroup(pg, 0)).Remote(), 30*time.Second); !errors.Is(err, rayo.ErrPlacementGroupRemoved) {
		t.Errorf("a task submitted to the removed group: %v; want ErrPlacementGroupRemoved", err)
	}
	ctx := withTimeout(t, 30*time.Second)
	a, err := plPingerActor.Options(rayo.InPlacementGroup(pg, 0)).New(ctx)
	if err == nil {
		err = a.Ready(ctx)
	}
	if !errors.Is(err, rayo.ErrPlacementGroupRemoved) && !errors.Is(err, rayo.ErrActorDied) {
		t.Errorf("an actor created in the removed group: %v; want ErrPlacementGroupRemoved or ErrActorDied", err)
	}
	for _, d := range plStatus(t, c).Infeasible {
		t.Errorf("rayo status lists an infeasible demand after the group's work failed: %v", d.Resources)
	}
}

// When a node dies, its bundles are placed again on the others where
// they fit; a STRICT_SPREAD bundle that fits nowhere else waits for a new
// node.
func TestPlacementNodeDeathReplaces(t *testing.T) {
	pc := startPlCluster(t)
	c := pc.c
	connect(t, c)
	spread := newPG(t, ones(3, 0.5), rayo.SPREAD, true)
	strict := newPG(t, ones(3, 0.5), rayo.STRICT_SPREAD, true)
	for _, pg := range []*rayo.PlacementGroup{spread, strict} {
		if n := bundleNodes(t, pg); distinct(n) != 3 || slices.Contains(n, "") {
			t.Fatalf("group %s: bundles on %s; want three distinct nodes", pg.ID(), pc.names(n))
		}
	}
	victim := pc.bProc
	lost := slices.Index(bundleNodes(t, spread), victim.NodeID)
	c.KillNode(t, victim)

	var nodes []string
	c.WaitFor(t, time.Minute, func() bool {
		nodes = bundleNodes(t, spread)
		return !slices.Contains(nodes, "") && !slices.Contains(nodes, victim.NodeID)
	}, "the SPREAD group's lost bundle to be placed again")
	t.Logf("SPREAD bundles after node b died: %s", pc.names(nodes))
	ctx := withTimeout(t, time.Minute)
	if err := spread.Ready(ctx); err != nil {
		t.Fatalf("Ready of the re-placed group: %v", err)
	}
	inLost := plWhere.Options(rayo.InPlacementGroup(spread, lost), rayo.NumCPUs(0.5)).Remote()
	if got := mustGet(t, inLost, "a task in the re-placed bundle"); got != nodes[lost] {
		t.Fatalf("the task in the re-placed bundle %d ran on %s; the bundle is on %s", lost, pc.name(got), pc.name(nodes[lost]))
	}
	if g, ok := statusPG(plStatus(t, c), spread.ID()); !ok || g.State != protocol.PGCreated {
		t.Fatalf("rayo status shows the re-placed group as %+v (found %v)", g, ok)
	}

	// STRICT_SPREAD cannot put its lost bundle on a node holding another.
	notReady(t, strict, 500*time.Millisecond)
	c.WaitFor(t, 30*time.Second, func() bool {
		g, ok := statusPG(plStatus(t, c), strict.ID())
		return ok && g.State == protocol.PGRescheduling
	}, "rayo status to show the STRICT_SPREAD group RESCHEDULING")
	sn := bundleNodes(t, strict)
	if slices.Contains(sn, victim.NodeID) || distinct(sn) != 3 || !slices.Contains(sn, "") {
		t.Fatalf("STRICT_SPREAD bundles after node b died: %s; want two placed, one not", pc.names(sn))
	}
	d := c.AddNode(t, testcluster.NodeSpec{CPUs: 2, Labels: map[string]string{"zone": "d"}, ExtraArgs: []string{"--num-gpus", "0"}})
	if err := strict.Ready(ctx); err != nil {
		t.Fatalf("Ready of the STRICT_SPREAD group after a node joined: %v", err)
	}
	sn = bundleNodes(t, strict)
	if distinct(sn) != 3 || !slices.Contains(sn, d.NodeID) || slices.Contains(sn, victim.NodeID) {
		t.Fatalf("STRICT_SPREAD bundles after node d joined: %s; want one on %s", pc.names(sn), d.NodeID)
	}
}

// Label selectors pick the nodes whose labels match; a selector no node
// matches is an infeasible demand.
func TestPlacementLabelSelectors(t *testing.T) {
	pc := startPlCluster(t)
	c := pc.c
	connect(t, c)
	all := []string{pc.a, pc.b, pc.g}
	for _, tc := range []struct {
		expr string
		ok   []string
	}{
		{"zone=b", []string{pc.b}},
		{"zone in (a,c)", []string{pc.a, pc.g}},
		{"zone!=a", []string{pc.b, pc.g}},
		{"gpu_node", []string{pc.g}},
		{"!gpu_node", []string{pc.a, pc.b}},
		{"zone notin (a, b)", []string{pc.g}},
		{"zone=c,gpu_node=yes", []string{pc.g}},
		{"", all},
	} {
		refs := make([]rayo.ObjectRef[string], 4)
		for i := range refs {
			refs[i] = plWhere.Options(rayo.LabelSelector(tc.expr)).Remote()
		}
		for _, ref := range refs {
			if got := mustGet(t, ref, fmt.Sprintf("a task with selector %q", tc.expr)); !slices.Contains(tc.ok, got) {
				t.Errorf("selector %q: the task ran on %s; want one of %s", tc.expr, pc.name(got), pc.names(tc.ok))
			}
		}
	}
	// An actor follows its selector too.
	ctx := withTimeout(t, time.Minute)
	a, err := plPingerActor.Options(rayo.LabelSelector("zone=b")).New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, plPingerNode.Remote(a), "the actor's node"); got != pc.b {
		t.Errorf("the actor with selector zone=b runs on %s", pc.name(got))
	}
	// A malformed selector is refused: the call fails at once.
	if _, err := getT(t, plWhere.Options(rayo.LabelSelector("zone in (")).Remote(), 10*time.Second); !errors.Is(err, rayo.ErrInvalidOption) {
		t.Errorf("a malformed selector: %v; want ErrInvalidOption", err)
	}

	// No node matches: the task waits, infeasible, and says so.
	never := plWhere.Options(rayo.LabelSelector("zone=nowhere"), rayo.NumCPUs(0.5)).Remote()
	if _, err := getT(t, never, time.Second); !errors.Is(err, rayo.ErrGetTimeout) {
		t.Fatalf("a task no node's labels match: %v; want ErrGetTimeout", err)
	}
	c.WaitFor(t, 30*time.Second, func() bool {
		for _, d := range plStatus(t, c).Infeasible {
			if d.Resources["CPU"] == 0.5 && d.Count == 1 {
				return true
			}
		}
		return false
	}, "rayo status to list the unmatched selector's task as an infeasible demand")
	if err := rayo.Cancel(never, false); err != nil {
		t.Fatal(err)
	}

	// An actor no node's labels match waits, infeasible, among the
	// pending actors.
	lost, err := plPingerActor.Options(rayo.LabelSelector("zone=nowhere")).New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer runtime.KeepAlive(lost) // see TestActorPendingCallKeepsActorInScope
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	err = lost.Ready(short)
	cancel()
	if err == nil {
		t.Fatalf("an actor no node's labels match became ready")
	}
	c.WaitFor(t, 30*time.Second, func() bool {
		for _, pa := range plStatus(t, c).PendingActors {
			if pa.ActorID == lost.ID() {
				return pa.Infeasible && pa.Class == "itest.pl.Pinger"
			}
		}
		return false
	}, "rayo status to list the unmatched selector's actor as an infeasible pending actor")
}

// Spread covers every node; NodeAffinity pins a task, and to a dead node
// it never runs (hard) or runs elsewhere (soft).
func TestPlacementSpreadAndNodeAffinity(t *testing.T) {
	pc := startPlCluster(t)
	c := pc.c
	connect(t, c)
	all := []string{pc.a, pc.b, pc.g}

	// Six Spread tasks all run, on the cluster's nodes. (That they cover
	// every node is TestPlacementKnownBugSpread.)
	refs := make([]rayo.ObjectRef[string], 6)
	for i := range refs {
		refs[i] = plWhere.Options(rayo.Spread()).Remote()
	}
	count := map[string]int{}
	for _, ref := range refs {
		got := mustGet(t, ref, "a Spread task")
		if !slices.Contains(all, got) {
			t.Errorf("a Spread task ran on %s", pc.name(got))
		}
		count[pc.name(got)]++
	}
	t.Logf("Spread: tasks per node %v", count)

	// Hard affinity to each node, several tasks each.
	for _, id := range all {
		var rs []rayo.ObjectRef[string]
		for range 3 {
			rs = append(rs, plWhere.Options(rayo.NodeAffinity(id, false)).Remote())
		}
		for _, r := range rs {
			if got := mustGet(t, r, "a NodeAffinity task"); got != id {
				t.Errorf("NodeAffinity(%s, false) ran on %s", pc.name(id), pc.name(got))
			}
		}
	}
	// A soft affinity to a live node that can hold the task is honoured.
	if got := mustGet(t, plWhere.Options(rayo.NodeAffinity(pc.g, true)).Remote(), "a soft NodeAffinity task"); got != pc.g {
		t.Errorf("NodeAffinity(%s, true) ran on %s", pc.name(pc.g), pc.name(got))
	}
	// Affinity to a node that can never hold the task: hard waits, soft
	// runs elsewhere.
	if got := mustGet(t, plWhere.Options(rayo.NumCPUs(2), rayo.NumGPUs(1), rayo.NodeAffinity(pc.a, true)).Remote(), "a soft NodeAffinity task that does not fit"); got != pc.g {
		t.Errorf("a soft NodeAffinity to a node without GPUs, for a GPU task, ran on %s; want the GPU node %s", pc.name(got), pc.name(pc.g))
	}

	// Node c dies.
	dead := pc.gProc.NodeID
	c.KillNode(t, pc.gProc)
	// As in Ray, a hard affinity to a dead node fails at once, naming it.
	hard := plWhere.Options(rayo.NodeAffinity(dead, false), rayo.NumCPUs(0.25)).Remote()
	if got, err := getT(t, hard, 30*time.Second); !errors.Is(err, rayo.ErrNodeAffinityUnavailable) || !strings.Contains(err.Error(), dead) {
		t.Fatalf("a hard NodeAffinity task to a dead node: %q, %v; want ErrNodeAffinityUnavailable naming %s", got, err, dead)
	}
	for range 3 {
		got := mustGet(t, plWhere.Options(rayo.NodeAffinity(dead, true)).Remote(), "a soft NodeAffinity task to a dead node")
		if got != pc.a && got != pc.b {
			t.Errorf("a soft NodeAffinity task to the dead node ran on %s", pc.name(got))
		}
	}
}

// Six Spread tasks that hold their CPU until released cover the three
// 2-CPU nodes, two on each.
func TestPlacementSpreadCoversNodes(t *testing.T) {
	pc := startPlCluster(t)
	c := pc.c
	for round := range 3 { // a fresh job each round: its workers start on demand
		connect(t, c)
		waitIdle(t, c)
		dir, release := t.TempDir(), filepath.Join(t.TempDir(), "release")
		t.Cleanup(func() { _ = os.WriteFile(release, nil, 0o644) })
		refs := make([]rayo.ObjectRef[string], 6)
		for i := range refs {
			refs[i] = plBlock.Options(rayo.Spread()).Remote(dir, release)
		}
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("round %d: Spread tasks started on %s", round, pc.names(startedNodes(dir)))
			}
		})
		c.WaitFor(t, 30*time.Second, func() bool { return len(startedNodes(dir)) == 6 },
			fmt.Sprintf("round %d: all six Spread tasks to run at once", round))
		touch(t, release)
		count := map[string]int{}
		for _, ref := range refs {
			count[mustGet(t, ref, "a Spread task")]++
		}
		for _, id := range []string{pc.a, pc.b, pc.g} {
			if count[id] != 2 {
				t.Fatalf("round %d: Spread tasks per node %v; want two on each of %s", round, count, pc.names([]string{pc.a, pc.b, pc.g}))
			}
		}
		rayo.Shutdown()
	}
}

// The GPU node hands out its two GPU IDs: concurrent one-GPU tasks see
// "0" and "1", a two-GPU task "0,1", a task without GPUs "".
func TestPlacementGPUs(t *testing.T) {
	pc := startPlCluster(t)
	c := pc.c
	connect(t, c)
	if got := c.NodeIDWithResource(t, "GPU"); got != pc.g {
		t.Fatalf("the node with GPUs is %s, want c %s", pc.name(got), pc.g)
	}
	for _, n := range c.Status(t).Nodes {
		if want := map[bool]int64{true: 2 * sched.Unit, false: 0}[n.Info.NodeID == pc.g]; n.Info.Total["GPU"] != want {
			t.Fatalf("node %s offers %v GPU units, want %v", pc.name(n.Info.NodeID), n.Info.Total["GPU"], want)
		}
	}
	for round := range 2 { // the second round reuses the workers
		dir := t.TempDir()
		a := plCudaBarrier.Options(rayo.NumGPUs(1)).Remote(dir, 2)
		b := plCudaBarrier.Options(rayo.NumGPUs(1)).Remote(dir, 2)
		va, vb := mustGet(t, a, "a 1-GPU task"), mustGet(t, b, "a 1-GPU task")
		if got := map[string]bool{va: true, vb: true}; !got["0"] || !got["1"] {
			t.Fatalf("round %d: two concurrent 1-GPU tasks saw %q and %q; want 0 and 1", round, va, vb)
		}
		if both := mustGet(t, plCuda.Options(rayo.NumGPUs(2)).Remote(), "a 2-GPU task"); both != "0,1" {
			t.Fatalf("round %d: a 2-GPU task saw %q; want 0,1", round, both)
		}
		// Without GPUs, on the GPU node (whose workers ran GPU tasks)
		// and anywhere.
		if none := mustGet(t, plCuda.Options(rayo.NodeAffinity(pc.g, false)).Remote(), "a task without GPUs"); none != "" {
			t.Fatalf("round %d: a task without GPUs on the GPU node saw %q", round, none)
		}
		if none := mustGet(t, plCuda.Remote(), "a task without GPUs"); none != "" {
			t.Fatalf("round %d: a task without GPUs saw %q", round, none)
		}
		if half := mustGet(t, plCuda.Options(rayo.NumGPUs(0.5)).Remote(), "a half-GPU task"); half != "0" && half != "1" {
			t.Fatalf("round %d: a half-GPU task saw %q", round, half)
		}
	}
	// An actor with a GPU sees its own.
	ctx := withTimeout(t, time.Minute)
	act, err := plPingerActor.Options(rayo.NumGPUs(1)).New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, plPingerCuda.Remote(act), "the GPU actor's devices"); got != "0" && got != "1" {
		t.Fatalf("an actor with one GPU sees %q", got)
	}
	if got := mustGet(t, plPingerNode.Remote(act), "the GPU actor's node"); got != pc.g {
		t.Fatalf("the GPU actor runs on %s", pc.name(got))
	}
}

// A task in a bundle that holds a GPU sees that GPU, as one outside a
// group does: two bundles of one GPU each hold the GPU node's two.
func TestPlacementGPUBundle(t *testing.T) {
	pc := startPlCluster(t)
	c := pc.c
	connect(t, c)
	pg := newPG(t, []map[string]float64{{"CPU": 1, "GPU": 1}, {"CPU": 1, "GPU": 1}}, rayo.STRICT_PACK, true)
	for i, n := range bundleNodes(t, pg) {
		if n != pc.g {
			t.Fatalf("GPU bundle %d is on %s, not on the GPU node %s", i, pc.name(n), pc.name(pc.g))
		}
	}
	dir := t.TempDir()
	a := plCudaBarrier.Options(rayo.InPlacementGroup(pg, 0), rayo.NumGPUs(1)).Remote(dir, 2)
	b := plCudaBarrier.Options(rayo.InPlacementGroup(pg, 1), rayo.NumGPUs(1)).Remote(dir, 2)
	va, vb := mustGet(t, a, "a 1-GPU task in bundle 0"), mustGet(t, b, "a 1-GPU task in bundle 1")
	if got := map[string]bool{va: true, vb: true}; !got["0"] || !got["1"] {
		t.Errorf("1-GPU tasks in the two GPU bundles saw %q and %q; want 0 and 1", va, vb)
	}
	// The group holds both GPUs: a GPU task outside it waits.
	outside := plCuda.Options(rayo.NumGPUs(1)).Remote()
	if got, err := getT(t, outside, 300*time.Millisecond); !errors.Is(err, rayo.ErrGetTimeout) {
		t.Fatalf("a 1-GPU task outside a group that holds every GPU: %q, %v; want it to wait", got, err)
	}
	ctx := withTimeout(t, time.Minute)
	act, err := plPingerActor.Options(rayo.InPlacementGroup(pg, 0), rayo.NumGPUs(1)).New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, plPingerCuda.Remote(act), "the GPU actor's devices"); got != va {
		t.Errorf("an actor with one GPU in bundle 0 sees %q; the task in bundle 0 saw %q", got, va)
	}
	removePG(t, pg)
	if got := mustGet(t, outside, "the 1-GPU task after the group's removal"); got != "0" && got != "1" {
		t.Errorf("a 1-GPU task after the group's removal saw %q", got)
	}
}

// Two one-GPU tasks that share a bundle (or a group, through bundle
// index -1) and run at once see different GPUs.
func TestPlacementGPUBundleSharedDistinct(t *testing.T) {
	pc := startPlCluster(t)
	connect(t, pc.c)
	for _, tc := range []struct {
		name    string
		bundles []map[string]float64
		index   int
	}{
		{"one 2-GPU bundle", []map[string]float64{{"CPU": 2, "GPU": 2}}, 0},
		{"any of two 1-GPU bundles", []map[string]float64{{"CPU": 1, "GPU": 1}, {"CPU": 1, "GPU": 1}}, -1},
	} {
		pg := newPG(t, tc.bundles, rayo.STRICT_PACK, true)
		for round := range 3 {
			dir := t.TempDir()
			a := plCudaBarrier.Options(rayo.InPlacementGroup(pg, tc.index), rayo.NumGPUs(1)).Remote(dir, 2)
			b := plCudaBarrier.Options(rayo.InPlacementGroup(pg, tc.index), rayo.NumGPUs(1)).Remote(dir, 2)
			va, vb := mustGet(t, a, "a 1-GPU task"), mustGet(t, b, "a 1-GPU task")
			if got := map[string]bool{va: true, vb: true}; !got["0"] || !got["1"] {
				t.Errorf("%s, round %d: two concurrent 1-GPU tasks saw %q and %q; want 0 and 1", tc.name, round, va, vb)
			}
		}
		removePG(t, pg)
		waitIdle(t, pc.c)
	}
}

// rayo list placement-groups lists groups with their state and bundles,
// and filters them.
func TestPlacementListCLI(t *testing.T) {
	pc := startPlCluster(t)
	c := pc.c
	connect(t, c)
	created := newPG(t, ones(2, 1), rayo.STRICT_PACK, true, rayo.PlacementGroupName("itest-created"))
	pending := newPG(t, []map[string]float64{{"CPU": 100}}, rayo.PACK, false, rayo.PlacementGroupName("itest-pending"))
	removed := newPG(t, ones(1, 1), rayo.SPREAD, true, rayo.PlacementGroupName("itest-removed"))
	removePG(t, removed)
	node := bundleNodes(t, created)[0]

	byID := func(rows []map[string]any) map[string]map[string]any {
		out := map[string]map[string]any{}
		for _, r := range rows {
			id, _ := r["placement_group_id"].(string)
			out[id] = r
		}
		return out
	}
	var rows map[string]map[string]any
	c.WaitFor(t, 30*time.Second, func() bool {
		rows = byID(plList(t, c))
		return rows[pending.ID()]["infeasible"] == true
	}, "rayo list to show the pending group infeasible")
	want := map[string][3]string{ // name, state, strategy
		created.ID(): {"itest-created", "CREATED", "STRICT_PACK"},
		pending.ID(): {"itest-pending", "PENDING", "PACK"},
		removed.ID(): {"itest-removed", "REMOVED", "SPREAD"},
	}
	for id, w := range want {
		r, ok := rows[id]
		if !ok {
			t.Errorf("rayo list does not list group %s (%s): %v", id, w[0], rows)
			continue
		}
		if r["name"] != w[0] || r["state"] != w[1] || r["strategy"] != w[2] {
			t.Errorf("rayo list: group %s is %v; want name %s, state %s, strategy %s", id, r, w[0], w[1], w[2])
		}
	}
	bundles := func(id string) []map[string]any {
		var out []map[string]any
		bs, _ := rows[id]["bundles"].([]any)
		for _, b := range bs {
			m, _ := b.(map[string]any)
			out = append(out, m)
		}
		return out
	}
	if bs := bundles(created.ID()); len(bs) != 2 || bs[0]["index"] != 0.0 || bs[1]["index"] != 1.0 ||
		bs[0]["node_id"] != node || bs[1]["node_id"] != node || bs[0]["resources"].(map[string]any)["CPU"] != 1.0 {
		t.Errorf("rayo list: the created group's bundles are %v (its node is %s)", bs, node)
	}
	if bs := bundles(pending.ID()); len(bs) == 0 || bs[0]["node_id"] != "" || bs[0]["resources"].(map[string]any)["CPU"] != 100.0 {
		t.Errorf("rayo list: the pending group's bundles are %v", bs)
	}
	if rows[created.ID()]["infeasible"] != false {
		t.Errorf("rayo list: the created group is infeasible: %v", rows[created.ID()])
	}

	only := plList(t, c, "--filter", "state=CREATED")
	if len(only) != 1 || only[0]["placement_group_id"] != created.ID() {
		t.Errorf("rayo list --filter state=CREATED: %v; want only %s", only, created.ID())
	}
	notCreated := byID(plList(t, c, "--filter", "state!=CREATED"))
	if _, ok := notCreated[created.ID()]; ok || len(notCreated) != 2 {
		t.Errorf("rayo list --filter state!=CREATED: %v", notCreated)
	}
	if got := plList(t, c, "--filter", "name=itest-pending", "--filter", "infeasible=true"); len(got) != 1 || got[0]["placement_group_id"] != pending.ID() {
		t.Errorf("rayo list with two filters: %v", got)
	}
	if got := plList(t, c, "--filter", "state=NOSUCH"); len(got) != 0 {
		t.Errorf("rayo list --filter state=NOSUCH: %v", got)
	}

	// The table lists them too.
	out, err := c.Rayo(t, "list", "placement-groups", "--address", c.Address(), "--token", c.Token())
	if err != nil {
		t.Fatalf("rayo list placement-groups: %v\n%s", err, out)
	}
	for _, s := range []string{"PLACEMENT_GROUP_ID", created.ID(), pending.ID(), "itest-created", "STRICT_PACK"} {
		if !strings.Contains(out, s) {
			t.Errorf("rayo list placement-groups does not show %q:\n%s", s, out)
		}
	}
	removePG(t, pending)
	removePG(t, created)
	if got := plList(t, c, "--filter", "state=REMOVED"); len(got) != 3 {
		t.Errorf("rayo list --filter state=REMOVED after removing all: %v", got)
	}
}

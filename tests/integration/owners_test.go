package integration_test

import (
	"context"
	"errors"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/internal/testcluster"
)

// Ownership tests (issue 13 item 3, issue 14 item 2's owner-died half):
// when the process that owns objects is gone (a driver that shuts down or
// is killed, a worker that dies), every node frees its objects, spilled
// copies and fallback files included, and borrowers get ErrOwnerDied (as
// in Ray).

// ownPutter owns what it puts; it keeps the references.
type ownPutter struct{ keep []rayo.ObjectRef[[]byte] }

var (
	ownPutterActor = rayo.RegisterActor[ownPutter]("itest.own.Putter", func() *ownPutter { return &ownPutter{} })
	// ownPutterPut puts n bytes and returns the reference nested in a
	// value: the caller borrows it, this actor's worker owns it.
	ownPutterPut = rayo.RegisterMethod[objHolder](ownPutterActor, "Put", func(p *ownPutter, ctx context.Context, n int) (objHolder, error) {
		r, err := rayo.Put(ctx, patternOf(n, 3))
		if err != nil {
			return objHolder{}, err
		}
		p.keep = append(p.keep, r)
		return objHolder{Ref: r}, nil
	})
)

// ownStoreMem is the store capacity of the ownership tests' nodes: small,
// so that 8 MiB objects spill (or go to fallback files).
const ownStoreMem = 24 << 20

// spillFiles lists what a spill directory holds.
func spillFiles(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("reading the spill directory: %v", err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

// storeEmpty reports whether a node's store holds no object and no byte,
// in memory, spilled or in fallback files; it logs what is left.
func storeEmpty(t *testing.T, c *testcluster.Cluster, p *testcluster.Proc) bool {
	r, err := listStore(c, p)
	if err != nil {
		t.Logf("listing the store of %s: %v", p.Name, err)
		return false
	}
	if len(r.Objects) > 0 || r.Used > 0 || r.SpilledObjects > 0 || r.SpilledBytes > 0 || r.FallbackBytes > 0 {
		t.Logf("%s's store: %d objects, %d bytes used, %d spilled (%d bytes), %d bytes in fallback files",
			p.Name, len(r.Objects), r.Used, r.SpilledObjects, r.SpilledBytes, r.FallbackBytes)
		return false
	}
	return true
}

// everythingFreed reports whether the stores of c's head and special node
// and the spill directories are empty.
func everythingFreed(t *testing.T, c *testcluster.Cluster, sp *testcluster.Proc, spills ...string) bool {
	if !storeEmpty(t, c, c.Head()) || !storeEmpty(t, c, sp) {
		return false
	}
	for _, d := range spills {
		if fs := spillFiles(t, d); len(fs) > 0 {
			t.Logf("spill directory %s holds %v", d, fs)
			return false
		}
	}
	return true
}

// startOwnCluster starts a head and a special node with small stores, each
// spilling to a directory of its own.
func startOwnCluster(t *testing.T) (c *testcluster.Cluster, sp *testcluster.Proc, spills []string) {
	t.Helper()
	spills = []string{t.TempDir(), t.TempDir()}
	c = startObjCluster(t, storeArgs(ownStoreMem, spills[0]), storeArgs(ownStoreMem, spills[1]))
	return c, specialProc(t, c), spills
}

// A driver that shuts down while it still holds references leaves none of
// its objects in any store: its puts (some spilled) on its node and a
// task's result on the other node.
func TestOwnerShutdownFreesItsObjects(t *testing.T) {
	c, sp, spills := startOwnCluster(t)
	connect(t, c)
	ctx := withTimeout(t, 2*time.Minute)
	var refs []rayo.ObjectRef[[]byte]
	for i := range 4 {
		r, err := rayo.Put(ctx, patternOf(8<<20, uint64(i)))
		if err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
		refs = append(refs, r)
	}
	res := objMakeBytes.Options(rayo.NodeAffinity(sp.NodeID, false)).Remote(8<<20, uint64(9))
	if _, _, err := rayo.Wait(ctx, []rayo.ObjectRef[[]byte]{res}, 1, -1); err != nil {
		t.Fatal(err)
	}
	if _, ok := findObject(mustListStore(t, c, sp), res.ID()); !ok {
		t.Fatalf("the task's result %s is not in the special node's store", res.ID())
	}
	if len(spillFiles(t, spills[0]))+len(spillFiles(t, spills[1])) == 0 {
		t.Fatalf("nothing spilled after putting 32 MiB into a %d MiB store", ownStoreMem>>20)
	}

	rayo.Shutdown()
	runtime.KeepAlive(refs)
	runtime.KeepAlive(res)
	c.WaitFor(t, 15*time.Second, func() bool { return everythingFreed(t, c, sp, spills...) },
		"every store and spill directory to be empty after the driver's Shutdown")
}

var readyRe = regexp.MustCompile(`(?m)^ready ((?:\S+ ?)+)$`)

// A driver killed with SIGKILL while it holds references: every node frees
// its objects (spilled copies included), and a detached actor of another
// job that borrowed one gets ErrOwnerDied.
func TestOwnerKilledDriverFreesItsObjects(t *testing.T) {
	c, sp, spills := startOwnCluster(t)
	connect(t, c)
	ctx := withTimeout(t, 2*time.Minute)
	const keeperName, keeperNS = "itest-own-keeper", "itest-own"
	k, err := keeperActor.Options(rayo.Name(keeperName), rayo.Namespace(keeperNS), rayo.Detached(),
		rayo.NodeAffinity(sp.NodeID, false)).New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rayo.Kill(context.Background(), k, true) })

	bin := testcluster.BuildProgram(t, "./tests/integration/testdata/ownerdriver")
	p := testcluster.Spawn(t, testcluster.Command{Name: "ownerdriver", Path: bin, Dir: t.TempDir(),
		Args: []string{"-put", "4", "-size", strconv.Itoa(8 << 20), "-task-on", sp.NodeID,
			"-keeper", keeperName, "-namespace", keeperNS},
		Env: []string{"RAYO_ADDRESS=" + c.Address(), "RAYO_TOKEN=" + c.Token()}})
	c.WaitFor(t, time.Minute, func() bool {
		if p.Exited() {
			t.Fatalf("the driver exited early: %v\n%s", p.ExitErr(), p.Output())
		}
		return readyRe.MatchString(p.Output())
	}, "the owning driver to put its objects")
	ids := map[string]bool{}
	for _, id := range strings.Fields(readyRe.FindStringSubmatch(p.Output())[1]) {
		ids[id] = true
	}
	if storesHoldNone(t, c, ids, c.Head(), sp) {
		t.Fatalf("no store holds the driver's objects %v", ids)
	}
	if len(spillFiles(t, spills[0]))+len(spillFiles(t, spills[1])) == 0 {
		t.Fatalf("nothing spilled after putting 32 MiB into a %d MiB store", ownStoreMem>>20)
	}

	p.Signal(syscall.SIGKILL)
	c.WaitFor(t, 30*time.Second, func() bool { return everythingFreed(t, c, sp, spills...) },
		"every store and spill directory to be empty after the owning driver was killed")

	_, err = keeperSum.Remote(k).Get(ctx)
	if !errors.Is(err, rayo.ErrOwnerDied) {
		t.Fatalf("the borrower's Get after its owner died: %v; want ErrOwnerDied", err)
	}
}

// A worker that dies owned what it put: its objects leave the stores, and
// the driver that borrowed one gets ErrOwnerDied.
func TestOwnerDeadWorkerFreesItsObjects(t *testing.T) {
	c := startCluster(t)
	connect(t, c)
	ctx := withTimeout(t, 2*time.Minute)
	sp := specialProc(t, c)
	a, err := ownPutterActor.Options(rayo.NodeAffinity(sp.NodeID, false)).New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h, err := ownPutterPut.Remote(a, 4<<20).Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id := h.Ref.ID()
	if _, ok := findObject(mustListStore(t, c, sp), id); !ok {
		t.Fatalf("the actor's object %s is not in its node's store", id)
	}
	if err := rayo.Kill(ctx, a, true); err != nil {
		t.Fatal(err)
	}
	c.WaitFor(t, 30*time.Second, func() bool { return storesHoldNone(t, c, map[string]bool{id: true}, c.Head(), sp) },
		"the dead actor's object to leave the stores")
	if _, err := getT(t, h.Ref, time.Minute); !errors.Is(err, rayo.ErrOwnerDied) {
		t.Fatalf("Get of an object whose owner died: %v; want ErrOwnerDied", err)
	}
}

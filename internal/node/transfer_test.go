package node

import (
	"encoding/binary"
	"net"
	"slices"

	"bytes"
	"context"
	"github.com/rayo-dev/rayo/internal/rpc"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rayo-dev/rayo/internal/gcs/gcstest"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/sched"
)

// startStoreNode starts a node daemon in this process with a store of
// storeMiB.
func startStoreNode(t *testing.T, head string, storeMiB int64) *Node {
	t.Helper()
	dir := t.TempDir()
	n, err := Start(Config{HeadAddr: head, Token: testToken, Resources: sched.Resources{"CPU": sched.Unit},
		LogsDir: filepath.Join(dir, "logs"), BinariesDir: filepath.Join(dir, "bin"), StoreDir: t.TempDir(),
		ObjectStoreMemory: storeMiB << 20, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Stop)
	return n
}

// putPrimary writes a primary object of size bytes into n's store.
func putPrimary(t *testing.T, n *Node, id string, size int) []byte {
	t.Helper()
	want := make([]byte, size)
	for i := range want {
		want[i] = byte(i*7 + i>>13)
	}
	loc, err := n.store.Create(id, int64(size), true, "test")
	if err != nil {
		t.Fatal(err)
	}
	b, err := n.store.Bytes(loc)
	if err != nil {
		t.Fatal(err)
	}
	copy(b, want)
	if err := n.store.Seal(id, "test"); err != nil {
		t.Fatal(err)
	}
	return want
}

// pullTo asks node to copy the object from src and checks the bytes.
func pullTo(t *testing.T, node, src *Node, id string, want []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := dialHead(t, node.Addr())
	var reply protocol.StoreObjectReply
	if err := c.Call(ctx, protocol.NodePullObject, &protocol.PullObjectRequest{ObjectID: id, From: src.Addr(), Size: int64(len(want))}, &reply); err != nil {
		return err
	}
	loc, err := node.store.Get(id, "check")
	if err != nil {
		return err
	}
	defer node.store.Release(id, "check")
	got, err := node.store.Bytes(loc)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, want) {
		t.Errorf("node %s: the copied bytes differ", node.ID())
	}
	return nil
}

func sent(n *Node) int64 { return n.objs.sentBytes.Load() }

// Many nodes reading one object at once get it through a tree of relays:
// the source sends it at most fanout times, and every copy is whole.
func TestTransferBroadcastIsATree(t *testing.T) {
	g := gcstest.Start(t, testToken)
	size := int(10*chunkSize + 12345)
	src := startStoreNode(t, g.Addr(), 16)
	want := putPrimary(t, src, "obj-b", size)
	var pullers []*Node
	for i := 0; i < 6; i++ {
		pullers = append(pullers, startStoreNode(t, g.Addr(), 16))
	}
	var wg sync.WaitGroup
	for _, p := range pullers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := pullTo(t, p, src, "obj-b", want); err != nil {
				t.Errorf("pull to %s: %v", p.ID(), err)
			}
		}()
	}
	wg.Wait()
	t.Logf("source sent %d (object %d)", sent(src), size)
	if s := sent(src); s > int64(fanout*size) {
		t.Errorf("the source sent %d bytes, more than %d × the object's %d", s, fanout, size)
	}
	var relayed, received int64
	for _, p := range pullers {
		relayed += sent(p)
		received += p.objs.receivedBytes.Load()
	}
	if received != int64(len(pullers)*size) {
		t.Errorf("the pullers received %d bytes, want %d", received, len(pullers)*size)
	}
	if relayed < int64((len(pullers)-fanout)*size) {
		t.Errorf("the pullers passed on %d bytes, want at least %d", relayed, (len(pullers)-fanout)*size)
	}
}

// A node reading an object that several nodes hold reads from them all,
// and not from the primary's node.
func TestTransferFromSeveralHolders(t *testing.T) {
	g := gcstest.Start(t, testToken)
	size := int(8 * chunkSize)
	src := startStoreNode(t, g.Addr(), 16)
	want := putPrimary(t, src, "obj-s", size)
	a, b, c := startStoreNode(t, g.Addr(), 16), startStoreNode(t, g.Addr(), 16), startStoreNode(t, g.Addr(), 16)
	for _, n := range []*Node{a, b} {
		if err := pullTo(t, n, src, "obj-s", want); err != nil {
			t.Fatal(err)
		}
	}
	// The plan the third puller gets names both copies (asked here as
	// its pull will ask; the pull asks again and replaces it). Which of
	// the two serves which chunk is up to the streams' pace.
	plan, err := src.pullPlan(context.Background(), &protocol.PullPlanRequest{ObjectID: "obj-s", Puller: c.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Sources) != 2 || !slices.Contains(plan.Sources, a.Addr()) || !slices.Contains(plan.Sources, b.Addr()) {
		t.Errorf("the third puller's plan %v: the third pull should read from both holders, %s and %s", plan.Sources, a.Addr(), b.Addr())
	}
	before, fromHolders := sent(src), sent(a)+sent(b)
	if err := pullTo(t, c, src, "obj-s", want); err != nil {
		t.Fatal(err)
	}
	if sent(src) != before {
		t.Errorf("the primary's node sent %d bytes to the third puller; the other copies should have", sent(src)-before)
	}
	if got := sent(a) + sent(b) - fromHolders; got != int64(size) {
		t.Errorf("the holders sent %d bytes to the third puller, want the object's %d", got, size)
	}
}

// A relay that cannot serve is replaced by the primary's node, and the
// primary's node forgets it.
func TestTransferFallsBackFromADeadRelay(t *testing.T) {
	g := gcstest.Start(t, testToken)
	size := int(3 * chunkSize)
	src := startStoreNode(t, g.Addr(), 16)
	want := putPrimary(t, src, "obj-f", size)
	// Two pullers that never come, so that the next one is planned onto
	// a relay that is not there.
	ctx := context.Background()
	for _, ghost := range []string{"127.0.0.1:1", "127.0.0.1:2"} {
		if _, err := src.pullPlan(ctx, &protocol.PullPlanRequest{ObjectID: "obj-f", Puller: ghost}); err != nil {
			t.Fatal(err)
		}
	}
	p := startStoreNode(t, g.Addr(), 16)
	if err := pullTo(t, p, src, "obj-f", want); err != nil {
		t.Fatal(err)
	}
	if sent(src) != int64(size) {
		t.Errorf("the primary's node sent %d bytes, want the whole object (%d) after the relay failed", sent(src), size)
	}
	waitFor(t, "the primary's node to forget the dead relay", func() bool {
		src.objs.mu.Lock()
		defer src.objs.mu.Unlock()
		_, ok := src.objs.dists["obj-f"].holders["127.0.0.1:1"]
		return !ok
	})
}

// A pull of an object its source no longer has fails as lost.
func TestTransferOfAMissingObjectIsLost(t *testing.T) {
	g := gcstest.Start(t, testToken)
	src := startStoreNode(t, g.Addr(), 16)
	p := startStoreNode(t, g.Addr(), 16)
	err := pullTo(t, p, src, "obj-none", make([]byte, 100))
	t.Logf("err: %v", err)
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("gone")) {
		t.Fatalf("pull of a missing object: %v", err)
	}
}

// startRelayPull makes node r look as if it were receiving object id:
// the copy exists, no chunk has arrived.
func startRelayPull(t *testing.T, r *Node, id string, size int) *pull {
	t.Helper()
	loc, err := r.store.Create(id, int64(size), false, transferHolder(id))
	if err != nil {
		t.Fatal(err)
	}
	dst, err := r.store.Bytes(loc)
	if err != nil {
		t.Fatal(err)
	}
	p := newPull(id)
	p.size, p.dst, p.have, p.created = int64(size), dst, make([]bool, chunkCount(int64(size))), true
	r.objs.mu.Lock()
	r.objs.pulls[id] = p
	r.objs.mu.Unlock()
	return p
}

func askChunk(t *testing.T, c net.Conn, chunk int, size int) {
	t.Helper()
	off, end := chunkRange(chunk, int64(size))
	var msg [16]byte
	binary.BigEndian.PutUint64(msg[:8], uint64(off))
	binary.BigEndian.PutUint64(msg[8:], uint64(end-off))
	if _, err := c.Write(msg[:]); err != nil {
		t.Fatal(err)
	}
}

// A node still receiving an object serves each chunk once it has it, and
// keeps the sealed copy pinned until its last reader is done.
func TestRelayServesChunksAsTheyArrive(t *testing.T) {
	g := gcstest.Start(t, testToken)
	r := startStoreNode(t, g.Addr(), 16)
	size := int(2 * chunkSize)
	p := startRelayPull(t, r, "obj-r", size)
	ctx := context.Background()
	var reply protocol.ChunkStreamReply
	c, err := rpc.DialStream(ctx, r.Addr(), testToken, protocol.NodeChunkStream, &protocol.ChunkStreamRequest{ObjectID: "obj-r"}, &reply)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if reply.Size != int64(size) {
		t.Fatalf("size %d", reply.Size)
	}
	askChunk(t, c, 1, size)
	got := make(chan []byte, 1)
	go func() {
		b := make([]byte, chunkSize)
		if _, err := io.ReadFull(c, b); err != nil {
			got <- nil
			return
		}
		got <- b
	}()
	// Chunk 0 arriving does not answer a request for chunk 1.
	for i, off := 0, 0; i < 2; i, off = i+1, off+int(chunkSize) {
		for j := range int(chunkSize) {
			p.dst[off+j] = byte(i + 1)
		}
		p.mu.Lock()
		p.have[i] = true
		p.cond.Broadcast()
		p.mu.Unlock()
		if i == 0 {
			select {
			case <-got:
				t.Fatal("chunk 1 was served before it arrived")
			default:
			}
		}
	}
	if b := <-got; b == nil || b[0] != 2 || b[len(b)-1] != 2 {
		t.Fatalf("chunk 1 came wrong: %v", b == nil)
	}
	// Sealed while a reader is still connected: the copy stays pinned
	// until it hangs up.
	if err := r.store.SealKeep("obj-r", transferHolder("obj-r")); err != nil {
		t.Fatal(err)
	}
	p.finish(r, true)
	if info, _ := r.store.Info("obj-r"); info.Pins != 1 {
		t.Fatalf("pins after the seal with a reader connected: %d, want 1", info.Pins)
	}
	_ = c.Close()
	waitFor(t, "the relay's pin to go with its last reader", func() bool {
		info, _ := r.store.Info("obj-r")
		return info.Pins == 0
	})
}

// When a relay's own transfer fails, its readers are cut off at once,
// and the copy is freed only after they are gone.
func TestRelayFailureCutsItsReadersOff(t *testing.T) {
	g := gcstest.Start(t, testToken)
	r := startStoreNode(t, g.Addr(), 16)
	size := int(2 * chunkSize)
	p := startRelayPull(t, r, "obj-x", size)
	c, err := rpc.DialStream(context.Background(), r.Addr(), testToken, protocol.NodeChunkStream, &protocol.ChunkStreamRequest{ObjectID: "obj-x"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	askChunk(t, c, 0, size)
	waitFor(t, "the reader to be served", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.servers == 1
	})
	p.finish(r, false)
	r.store.Abort("obj-x")
	if _, err := io.ReadFull(c, make([]byte, 1)); err == nil {
		t.Fatal("the reader of a failed relay got bytes")
	}
	if r.store.Contains("obj-x") {
		t.Fatal("the failed copy is still in the store")
	}
}

// An object of one chunk is read in one call on the pooled connection,
// from a copy where there is one, as larger ones are.
func TestSmallTransferReadsFromACopy(t *testing.T) {
	g := gcstest.Start(t, testToken)
	size := 300 << 10
	src := startStoreNode(t, g.Addr(), 16)
	want := putPrimary(t, src, "obj-small", size)
	a, b := startStoreNode(t, g.Addr(), 16), startStoreNode(t, g.Addr(), 16)
	if err := pullTo(t, a, src, "obj-small", want); err != nil {
		t.Fatal(err)
	}
	// a reports its whole copy to the primary's node in the background:
	// b's plan names that copy once it has.
	waitFor(t, "the primary's node to record the first copy", func() bool {
		st := src.objs
		st.mu.Lock()
		defer st.mu.Unlock()
		d := st.dists["obj-small"]
		return d != nil && d.holders[a.Addr()] != nil && d.holders[a.Addr()].whole
	})
	if err := pullTo(t, b, src, "obj-small", want); err != nil {
		t.Fatal(err)
	}
	if sent(src) != int64(size) || sent(a) != int64(size) {
		t.Errorf("the primary's node sent %d bytes and the first copy %d; want the object (%d) once each", sent(src), sent(a), size)
	}
}

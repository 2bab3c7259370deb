package scalebench

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/internal/protocol"
)

// pull: a 1 GiB object made by a task on node A, read by a task on node
// B; beside it, plain TCP and TLS streams on the same path.
func (r *rows) pull(ctx context.Context) error {
	if !r.b.wantPull(r.pfx) || len(r.c.nodes) < 2 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.b.o.RowTimeout)
	defer cancel()
	a, b := r.c.nodes[0], r.c.nodes[1]
	if err := r.warm(ctx, []*node{a, b}); err != nil {
		return err
	}
	sz := r.b.o.TransferBytes
	obj := makeBytes.Options(rayo.NodeAffinity(a.id, false)).Remote(int(sz))
	defer obj.Release()
	if _, _, err := rayo.Wait(ctx, []rayo.ObjectRef[[]byte]{obj}, 1, -1); err != nil {
		return fmt.Errorf("making %d bytes on node %s: %w", sz, a.id, err)
	}
	start := time.Now()
	got, err := size.Options(rayo.NodeAffinity(b.id, false)).Remote(obj).Get(ctx)
	el := time.Since(start)
	if err != nil {
		return fmt.Errorf("reading %d bytes made on node %s from node %s: %w", sz, a.id, b.id, err)
	}
	if int64(got) != sz {
		return fmt.Errorf("node %s read %d bytes, want %d", b.id, got, sz)
	}
	gb := float64(sz) / 1e9
	name := fmt.Sprintf("pull %d MiB to another node", sz>>20)
	r.add(name, el.Seconds(), 0, "s")
	r.add(name+": bandwidth", gb/el.Seconds(), 0, "GB/s")
	tcp, err := streamFloor(a.net.ns, a.net.ip, b.net.ns, sz, false)
	if err != nil {
		return err
	}
	tlsd, err := streamFloor(a.net.ns, a.net.ip, b.net.ns, sz, true)
	if err != nil {
		return err
	}
	r.add(name+": floor, one TCP stream on the same path", gb/tcp.Seconds(), 0, "GB/s")
	r.add(name+": floor, one TLS stream on the same path", gb/tlsd.Seconds(), 0, "GB/s")
	r.add(name+": rayo / TLS floor", tlsd.Seconds()/el.Seconds(), 0, "x")
	r.add(name+": rayo / TCP floor", tcp.Seconds()/el.Seconds(), 0, "x")
	return nil
}

// wantPull: the pull rows are named after the object's size.
func (b *bench) wantPull(pfx string) bool {
	return b.want(pfx+rowPull) || b.want(fmt.Sprintf("%spull %d MiB to another node", pfx, b.o.TransferBytes>>20))
}

func (b *bench) wantBroadcast(pfx string) bool {
	return b.want(pfx+rowBroadcast) || b.want(pfx+rowBroadcast+" capped")
}

// broadcast: one object made on a node, read by a task on each of
// BroadcastNodes other nodes at once; the bytes each node sent. Then the
// same under a tc bandwidth cap, against sequential sends.
func (r *rows) broadcast(ctx context.Context) error {
	o := r.b.o
	if r.n < o.BroadcastNodes || !r.b.wantBroadcast(r.pfx) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.b.o.RowTimeout)
	defer cancel()
	src := r.c.nodes[0]
	readers := r.c.nodes[1:min(len(r.c.nodes), o.BroadcastNodes+1)]
	var readerIDs []string
	for _, n := range readers {
		readerIDs = append(readerIDs, n.id)
	}
	if len(readerIDs) < o.BroadcastNodes { // at N = 50: the head's node too
		st, err := r.c.status(ctx)
		if err != nil {
			return err
		}
		for _, ns := range st.Nodes {
			if ns.Info.IsHead && ns.Alive {
				readerIDs = append(readerIDs, ns.Info.NodeID)
			}
		}
	}
	if err := r.warm(ctx, append([]*node{src}, readers...)); err != nil {
		return err
	}
	mib := o.BroadcastBytes >> 20
	if r.want(rowBroadcast) {
		d, sent, err := r.broadcastOnce(ctx, src.id, readerIDs)
		if errors.Is(err, errShortOfMemory) {
			r.b.o.Log.Warn("broadcast row skipped", "err", err)
			return nil
		}
		if err != nil {
			return err
		}
		name := fmt.Sprintf("%s %d MiB to %d nodes", rowBroadcast, mib, len(readerIDs))
		r.add(name, d.Seconds(), 0, "s")
		r.add(name+": source sent", float64(sent[src.id])/float64(o.BroadcastBytes), 0, "x object")
		var most float64
		var total int64
		for id, s := range sent {
			total += s
			if id != src.id {
				most = max(most, float64(s))
			}
		}
		r.add(name+": most sent by another node", most/float64(o.BroadcastBytes), 0, "x object")
		r.add(name+": all nodes sent", float64(total)/float64(o.BroadcastBytes), 0, "x object")
	}
	if r.want(rowBroadcast+" capped") && r.c.nw.netns {
		err := r.capped(ctx, src, readerIDs)
		if errors.Is(err, errShortOfMemory) {
			r.b.o.Log.Warn("capped broadcast rows skipped", "err", err)
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// broadcastOnce makes an object on src, has each reader read it, frees
// it, and returns the time and the bytes each node sent meanwhile.
func (r *rows) broadcastOnce(ctx context.Context, src string, readers []string) (time.Duration, map[string]int64, error) {
	sz := r.b.o.BroadcastBytes
	if err := enoughMemory(int64(len(readers)), sz); err != nil {
		return 0, nil, err
	}
	obj := makeBytes.Options(rayo.NodeAffinity(src, false)).Remote(int(sz))
	defer obj.Release()
	if _, _, err := rayo.Wait(ctx, []rayo.ObjectRef[[]byte]{obj}, 1, -1); err != nil {
		return 0, nil, fmt.Errorf("making %d bytes on node %s: %w", sz, src, err)
	}
	before, err := r.sentBytes(ctx)
	if err != nil {
		return 0, nil, err
	}
	refs := make([]rayo.ObjectRef[int], len(readers))
	start := time.Now()
	for i, id := range readers {
		refs[i] = size.Options(rayo.NodeAffinity(id, false)).Remote(obj)
	}
	got, err := rayo.GetAll(ctx, refs)
	el := time.Since(start)
	if err != nil {
		return 0, nil, fmt.Errorf("%d nodes reading %d bytes: %w", len(readers), sz, err)
	}
	for i, g := range got {
		if int64(g) != sz {
			return 0, nil, fmt.Errorf("node %s read %d bytes, want %d", readers[i], g, sz)
		}
	}
	after, err := r.sentBytes(ctx)
	if err != nil {
		return 0, nil, err
	}
	for id := range after {
		after[id] -= before[id]
	}
	return el, after, nil
}

// sentBytes asks every alive node for its transfer counters, as rayo
// memory asks for its store (NodeListObjects).
func (r *rows) sentBytes(ctx context.Context) (map[string]int64, error) {
	st, err := r.c.status(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, ns := range st.Nodes {
		if !ns.Alive {
			continue
		}
		var lo protocol.ListObjectsReply
		if err := r.c.nodeCall(ctx, ns.Info.Addr, protocol.NodeListObjects, &protocol.Empty{}, &lo); err != nil {
			return nil, fmt.Errorf("node %s's counters: %w", ns.Info.NodeID, err)
		}
		out[ns.Info.NodeID] = lo.SentBytes
	}
	return out, nil
}

// capped caps every node's veth both ways with tc, times one transfer
// and a broadcast, and removes the caps.
func (r *rows) capped(ctx context.Context, src *node, readers []string) error {
	rate := r.b.o.CapRate
	defer r.uncap()
	if err := r.cap(rate); err != nil {
		return err
	}
	one, _, err := r.broadcastOnce(ctx, src.id, readers[:1])
	if err != nil {
		return fmt.Errorf("one capped transfer: %w", err)
	}
	all, sent, err := r.broadcastOnce(ctx, src.id, readers)
	if err != nil {
		return fmt.Errorf("capped broadcast: %w", err)
	}
	name := fmt.Sprintf("%s capped at %s: %d MiB to %d nodes", rowBroadcast, rate, r.b.o.BroadcastBytes>>20, len(readers))
	r.add(name, all.Seconds(), 0, "s")
	r.add(name+": one transfer", one.Seconds(), 0, "s")
	r.add(fmt.Sprintf("%s: %d sequential sends (one × %d)", name, len(readers), len(readers)), one.Seconds()*float64(len(readers)), 0, "s")
	r.add(name+": speed-up over sequential sends", one.Seconds()*float64(len(readers))/all.Seconds(), 0, "x")
	r.add(name+": source sent", float64(sent[src.id])/float64(r.b.o.BroadcastBytes), 0, "x object")
	return nil
}

func (r *rows) cap(rate string) error {
	var root strings.Builder
	for _, n := range r.c.nodes {
		if n.killed {
			continue
		}
		tbf := fmt.Sprintf("root tbf rate %s burst 1mb latency 50ms", rate)
		fmt.Fprintf(&root, "qdisc replace dev %s %s\n", n.net.veth, tbf)
		// The node's sending side, inside its namespace.
		args := append([]string{"-n", n.net.ns, "qdisc", "replace", "dev", "eth0"}, strings.Fields(tbf)...)
		if out, err := exec.Command("tc", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("tc %s: %w: %s", strings.Join(args, " "), err, out)
		}
	}
	cmd := exec.Command("tc", "-batch", "-")
	cmd.Stdin = strings.NewReader(root.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("tc -batch: %w: %s", err, out)
	}
	return nil
}

func (r *rows) uncap() {
	for _, n := range r.c.nodes {
		if n.killed {
			continue
		}
		_ = exec.Command("tc", "qdisc", "del", "dev", n.net.veth, "root").Run()
		_ = exec.Command("tc", "-n", n.net.ns, "qdisc", "del", "dev", "eth0", "root").Run()
	}
}

// enoughMemory refuses a broadcast that would leave the machine short:
// each reader's store copy, and 2 GiB for what the pulls hold meanwhile
// (measured: the source daemon held ~70 MB per concurrent pull). Short of
// memory, the whole machine stalls, heartbeats time out and the head
// declares every node dead, which measures nothing.
func enoughMemory(readers, size int64) error {
	avail, err := memAvailable()
	if err != nil {
		return err
	}
	need := readers*size + 2<<30
	if avail < need {
		return fmt.Errorf("%d readers of %d MiB need about %d MiB of memory, %d MiB available: %w",
			readers, size>>20, need>>20, avail>>20, errShortOfMemory)
	}
	return nil
}

var errShortOfMemory = errors.New("scalebench: not enough memory for the broadcast (a smaller --cluster-broadcast-bytes, or the row alone)")
